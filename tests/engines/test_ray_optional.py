"""Ray is an optional extra: the core imports, and scan and worker fail clearly without it.

None of these tests start a cluster, so they are quick and not marked slow.
"""

from __future__ import annotations

import secrets
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from mediaguard.commands.context import EXIT_USAGE
from mediaguard.commands.service import main
from mediaguard.config import ScanConfig
from mediaguard.engines.ray import scan_paths_ray
from mediaguard.errors import ConfigError
from mediaguard.policy.model import Policy

_WITHOUT_RAY = textwrap.dedent(
    """
    import sys
    sys.modules["ray"] = None  # as if the extra were not installed
    import mediaguard, mediaguard.cli, mediaguard.engines.ray
    from mediaguard.config import ScanConfig
    from mediaguard.errors import ConfigError
    from mediaguard.policy.model import Policy
    try:
        mediaguard.engines.ray.scan_paths_ray(
            [], config=ScanConfig(), policy=Policy.default_policy(), address=None, workers=1
        )
    except ConfigError as err:
        print(err)
    else:
        raise SystemExit("no ConfigError without ray")
    """
)


def test_without_ray_the_core_imports_and_the_engine_says_how_to_install_it() -> None:
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", _WITHOUT_RAY],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 0, done.stderr[-2000:]
    assert "pip install 'mediaguard[ray]'" in done.stdout


def _worker_settings(tmp_path: Path) -> Path:
    """A settings file for ``mediaguard worker``, its database never created."""
    path = tmp_path / "worker.toml"
    path.write_text(
        'environment = "production"\n'
        f'data_dir = "{tmp_path / "data"}"\n'
        f'webhook_signing_secret = "{secrets.token_urlsafe(32)}"\n'
    )
    return path


_WORKER_WITHOUT_RAY = textwrap.dedent(
    """
    import sys
    sys.modules["ray"] = None  # as if the extra were not installed
    from mediaguard.commands.service import main
    sys.exit(main(["worker", "--ray", "local", "--settings", sys.argv[1]]))
    """
)


def test_without_ray_worker_on_ray_says_how_to_install_it_before_touching_the_database(
    tmp_path: Path,
) -> None:
    settings = _worker_settings(tmp_path)
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", _WORKER_WITHOUT_RAY, str(settings)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == EXIT_USAGE, done.stderr[-2000:]
    message = " ".join(done.stderr.split())  # the console may wrap it
    assert "running job workers on Ray needs the ray extra" in message
    assert "pip install 'mediaguard[ray]'" in message
    assert not (tmp_path / "data" / "mediaguard.db").exists()


def test_worker_count_without_ray_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["worker", "--workers", "2", "--settings", str(_worker_settings(tmp_path))])

    assert code == EXIT_USAGE
    assert "--workers needs --ray" in " ".join(capsys.readouterr().err.split())
    assert not (tmp_path / "data" / "mediaguard.db").exists()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        pytest.param({"workers": 0}, "workers: expected a positive integer", id="workers"),
        pytest.param(
            {"workers": 2, "max_in_flight": 0}, "max_in_flight: expected", id="max_in_flight"
        ),
        pytest.param({"workers": 2, "max_attempts": 0}, "max_attempts: expected", id="attempts"),
    ],
)
def test_out_of_range_arguments_are_refused_before_anything_starts(
    options: dict[str, int], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        scan_paths_ray(
            [Path("x")],
            config=ScanConfig(),
            policy=Policy.default_policy(),
            address=None,
            **options,  # type: ignore[arg-type]
        )


@pytest.mark.timeout(30)
def test_an_unreachable_cluster_is_a_config_error_within_seconds() -> None:
    ray = pytest.importorskip("ray")
    if ray.is_initialized():
        pytest.skip("this process is already connected to a Ray cluster")
    results = scan_paths_ray(
        [Path("x")],
        config=ScanConfig(),
        policy=Policy.default_policy(),
        address="127.0.0.1:1",  # nothing listens on port 1
        workers=1,
    )
    started = time.perf_counter()

    with pytest.raises(ConfigError, match=r"cannot reach the Ray cluster at 127\.0\.0\.1:1"):
        next(results)
    assert time.perf_counter() - started < 10  # Ray alone would retry for minutes
    assert not ray.is_initialized()
