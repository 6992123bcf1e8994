"""The bad-input catalogue: one job over every awkward file; each gets its verdict.

The job completes, counts add up, and every rejection has a readable reason.
Folder-level mistakes (no folder, no images, a single label) are in
``test_submit_cli.py``.
"""

import json
import os

import pytest

from catdog_queue.shared.shards import decode_shard
from tests.images import write_catalogue
from tests.integration.conftest import clean_environment, run_submit

pytestmark = pytest.mark.integration
CATALOGUE_CASES = [
    "truncated JPEG", "zero-byte file", "random bytes", "text named .jpg",
    "decompression bomb", "name without a label", "link out of the data folder",
    "PNG named .jpg", "grayscale", "CMYK", "RGBA", "palette", "16-bit PNG",
    "non-UTF-8 file name",
]  # fmt: skip


@pytest.fixture(scope="module")
def catalogue_job(cluster, tmp_path_factory):
    folder = tmp_path_factory.mktemp("catalogue")
    catalogue = write_catalogue(folder / "data", folder / "outside")
    out = folder / "out"
    arguments = ["train", "--data", folder / "data", "--out", out, "--epochs", 2]
    process = run_submit(
        [*arguments, "--image-size", 8], clean_environment() | cluster.environment()
    )
    assert process.returncode == 0, process.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    store = cluster.redis()
    record = json.loads(store.get(f"catdog:job:{metrics['job_id']}:record"))
    headers = [decode_shard(store.get(shard["key"]))[0] for shard in record["parts"][0]["shards"]]
    used = [path for header in headers for path in header["paths"]]
    on_disk = sorted(
        os.path.relpath(os.path.join(parent, name), folder / "data")
        for parent, folders, names in os.walk(folder / "data")
        for name in names + [f for f in folders if os.path.islink(os.path.join(parent, f))]
    )
    return catalogue, metrics, used, process, on_disk


def test_every_file_on_disk_is_used_or_rejected_once(catalogue_job):
    catalogue, metrics, used, _, on_disk = catalogue_job
    rejected = [item["path"] for item in metrics["images_rejected"]]
    assert sorted(used + rejected) == on_disk
    assert len(on_disk) == metrics["images_total"] == 40 + len(CATALOGUE_CASES)
    assert {path for path, _ in catalogue.values()} <= set(on_disk)


@pytest.mark.parametrize("case", CATALOGUE_CASES)
def test_each_file_gets_its_verdict(catalogue_job, case):
    catalogue, metrics, used, *_ = catalogue_job
    path, reason_fragment = catalogue[case]
    rejected = {item["path"]: item["reason"] for item in metrics["images_rejected"]}
    if reason_fragment is None:
        assert path in used and path not in rejected
    else:
        assert path not in used
        assert reason_fragment in rejected[path]


def test_the_job_completes_and_counts_add_up(catalogue_job):
    catalogue, metrics, used, process, _ = catalogue_job
    accepted = sum(1 for _, fragment in catalogue.values() if fragment is None)
    assert metrics["images_used"] == len(used) == 40 + accepted
    assert metrics["images_used"] + len(metrics["images_rejected"]) == metrics["images_total"]
    assert len(used) == len(set(used))
    assert "rejected" in process.stdout
