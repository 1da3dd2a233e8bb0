"""The embedded process-pool engine."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from mediaguard.config import ScanConfig
from mediaguard.engines.local import scan_paths
from mediaguard.policy.model import Policy
from mediaguard.store import Store
from mediaguard.verdict import Verdict


def test_pool_on_a_fresh_store_migrates_once_and_records_every_item(tmp_path: Path) -> None:
    """A new SQLite store is migrated before the workers start, and every item recorded."""
    from skimage import data

    files = []
    for i, image in enumerate([data.astronaut(), data.coffee(), data.chelsea(), data.rocket()]):
        path = tmp_path / f"{i}.jpg"
        Image.fromarray(image).save(path, quality=90)
        files.append(path)
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    config = ScanConfig(detectors=(), hashlists=True, database_url=url)
    results = list(scan_paths(files, config=config, policy=Policy.default_policy(), workers=2))
    assert [type(r) for r in results] == [Verdict] * 4
    with Store.open(url) as store:
        assert store.is_current()
        assert len(list(store.items.iter_items())) == 4
