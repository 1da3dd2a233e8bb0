"""Real photographs shared by every test suite.

The photos are files shipped inside scikit-image (``skimage/data``) and matplotlib
(``mpl-data/sample_data``), the packages of the ``samples`` extra. They are read straight
from the installed package with ``importlib.resources`` rather than through the
packages' loaders, so no test can reach for the network: a missing file is an error, not
a download.
"""

from __future__ import annotations

import io
import logging
import os
import uuid
from collections.abc import Iterator
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import SQLAlchemyError

from mediaguard.store import Store, resolve_url

Photo = npt.NDArray[np.uint8]

#: Photo name -> (package, file). All are real photographs, not drawings.
PHOTOS: dict[str, tuple[str, str]] = {
    "astronaut": ("skimage.data", "astronaut.png"),
    "camera": ("skimage.data", "camera.png"),
    "coffee": ("skimage.data", "coffee.png"),
    "chelsea": ("skimage.data", "chelsea.png"),
    "rocket": ("skimage.data", "rocket.jpg"),
    "grace_hopper": ("matplotlib", "mpl-data/sample_data/grace_hopper.jpg"),
}

#: Format name as mediaguard's sniffer reports it -> Pillow's writer name.
IMAGE_WRITERS: dict[str, str] = {
    "jpeg": "JPEG",
    "png": "PNG",
    "webp": "WEBP",
    "gif": "GIF",
    "bmp": "BMP",
    "tiff": "TIFF",
    "heif": "HEIF",
    "avif": "AVIF",
}


@cache
def photo_file(name: str) -> bytes:
    """The encoded bytes of a shipped photo, exactly as the package ships them."""
    package, path = PHOTOS[name]
    return files(package).joinpath(path).read_bytes()


@cache
def photo_pixels(name: str) -> Photo:
    """A shipped photo as a read-only H x W x 3 RGB uint8 array (greyscale is expanded)."""
    with Image.open(io.BytesIO(photo_file(name))) as img:
        pixels = np.asarray(img.convert("RGB"), dtype=np.uint8)
    pixels.setflags(write=False)
    return pixels


def encode_image(pixels: Photo | Image.Image, fmt: str, **options: object) -> bytes:
    """Encode pixels in memory as ``fmt`` (a sniffer format name such as ``"heif"``).

    HEIF is written through pillow-heif's own API so that tests never register its
    Pillow opener: the code under test must do that itself.
    """
    img = pixels if isinstance(pixels, Image.Image) else Image.fromarray(pixels)
    out = io.BytesIO()
    if fmt == "heif":
        import pillow_heif

        pillow_heif.from_pillow(img).save(out, **options)
    else:
        img.save(out, IMAGE_WRITERS[fmt], **options)
    return out.getvalue()


class Photos:
    """The helpers above, handed to suites as the ``photos`` fixture.

    Test packages cannot import this conftest, so they reach the photos through it.
    """

    @staticmethod
    def file(name: str) -> bytes:
        return photo_file(name)

    @staticmethod
    def pixels(name: str) -> Photo:
        return photo_pixels(name)

    @staticmethod
    def encode(pixels: Photo | Image.Image, fmt: str, **options: object) -> bytes:
        return encode_image(pixels, fmt, **options)


@pytest.fixture(scope="session")
def photos() -> Photos:
    """Shipped photos by name, as bytes or pixels, and an in-memory encoder."""
    return Photos()


@pytest.fixture
def photo_rgb() -> Photo:
    """The astronaut photo (512 x 512, RGB): a face, skin, fabric and a flag."""
    return photo_pixels("astronaut")


@pytest.fixture
def photo_jpeg_bytes() -> bytes:
    """A real camera JPEG (Grace Hopper, 512 x 600) as the package ships it."""
    return photo_file("grace_hopper")


@pytest.fixture(autouse=True)
def _isolated_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Keep every test's database, indexes and spool out of the user's data directory."""
    data = tmp_path / "mediaguard-data"
    monkeypatch.setenv("MEDIAGUARD_DATA_DIR", str(data))
    monkeypatch.delenv("MEDIAGUARD_DATABASE_URL", raising=False)
    return data


# ------------------------------------------------------------------ database backends
# Every test that takes ``store`` (or ``database_url``) runs twice: on a SQLite file in
# ``tmp_path`` and on PostgreSQL at ``$MEDIAGUARD_TEST_POSTGRES_URL``, inside a schema
# created for that one test and dropped after it. ``.ci/postgres.sh`` starts a suitable
# server and prints the URL; ``make test`` runs it. Without the variable the PostgreSQL half
# is skipped, but *fails* where every service is required (``make test``, ``$CI``).


REQUIRED = "MEDIAGUARD_REQUIRE_SERVICES or CI is set"


def services_required() -> bool:
    """Whether a missing service must fail its tests rather than skip them.

    ``make test`` (tools/with-services.sh) sets ``MEDIAGUARD_REQUIRE_SERVICES``; ``$CI`` set
    to anything but a false value counts too, so no CI run can pass by skipping.
    """
    falsy = ("", "0", "false", "no")
    return any(
        os.environ.get(name, "").strip().lower() not in falsy
        for name in ("MEDIAGUARD_REQUIRE_SERVICES", "CI")
    )


def service_missing(message: str) -> NoReturn:
    """Skip the test whose service cannot run here, or fail it where none may be skipped."""
    if services_required():
        pytest.fail(f"{message} ({REQUIRED}, so they may not be skipped)", pytrace=False)
    pytest.skip(message)


POSTGRES_ENV = "MEDIAGUARD_TEST_POSTGRES_URL"


@pytest.fixture(scope="session")
def postgres_admin() -> Iterator[Engine]:
    """An engine on the test PostgreSQL database, or a skip/failure saying why not."""
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        message = (
            f"{POSTGRES_ENV} is not set, so the PostgreSQL store tests cannot run; start "
            f'one with: export {POSTGRES_ENV}="$(.ci/postgres.sh)"'
        )
        if services_required():
            pytest.fail(
                f"{message} (this run requires every service, so they may not be skipped)",
                pytrace=False,
            )
        pytest.skip(message)
    engine = create_engine(resolve_url(url), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as err:
        engine.dispose()
        shown = resolve_url(url).render_as_string(hide_password=True)
        pytest.fail(f"{POSTGRES_ENV}={shown} is set but unreachable: {err}", pytrace=False)
    yield engine
    engine.dispose()


@pytest.fixture(
    params=[pytest.param("sqlite", id="sqlite"), pytest.param("postgresql", id="postgresql")]
)
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The URL of an empty database (never migrated) on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('store') / 'store.db'}"
        return
    admin: Engine = request.getfixturevalue("postgres_admin")
    schema = f"mgtest_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    # search_path makes the fresh schema the default one: every table, including
    # alembic_version, is created and looked up there. A session time zone far from
    # UTC (+12:45) shows that timestamps do not depend on the server's zone.
    options = f"-csearch_path={schema} -ctimezone=Pacific/Chatham"
    url = admin.url.update_query_dict({"options": options})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


@pytest.fixture
def bare_store(database_url: str) -> Iterator[Store]:
    """A store on an empty database whose schema was never migrated."""
    with Store.open(database_url) as store:
        yield store


@pytest.fixture
def store(bare_store: Store) -> Store:
    """A store migrated to the latest schema."""
    bare_store.upgrade()
    return bare_store


# One real local Ray cluster per test module: starting one costs seconds on two cores, so
# a module's tests share it; each test starts its own actors on it and stops them after.
#: CPUs of the test cluster: the CI machine's cores.
CLUSTER_CPUS = 2


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A local two-CPU Ray cluster for this module, shut down after it."""
    try:
        import ray
    except ImportError:
        message = "ray is not installed: pip install 'mediaguard[ray]'"
        if services_required():
            pytest.fail(
                f"{message} (this run requires every service, so the Ray tests may not be skipped)"
            )
        pytest.skip(message)
    # The workers inherit the cluster's environment, not each test's: give them a data
    # directory of their own so nothing reaches the user's.
    data = tmp_path_factory.mktemp("ray-data")
    ray.init(
        num_cpus=CLUSTER_CPUS,
        include_dashboard=False,
        log_to_driver=False,
        logging_level=logging.ERROR,
        runtime_env={"env_vars": {"MEDIAGUARD_DATA_DIR": str(data)}},
    )
    yield ray
    ray.shutdown()
