"""Interrupt and resume a local job; several jobs at once on one cluster."""

import json
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from catdog_queue.shared.decode import decode_files
from catdog_queue.shared.listing import list_labelled_images, plan_shards
from catdog_queue.shared.shards import decode_shard
from tests.images import make_separable_images
from tests.integration.conftest import clean_environment, run_submit

pytestmark = pytest.mark.integration


def test_resume_of_an_unknown_job_is_a_usage_error(cluster):
    process = run_submit(
        ["resume", "20990101-000000-abcdef"], clean_environment() | cluster.environment()
    )
    assert process.returncode == 2
    assert "no job 20990101-000000-abcdef" in process.stderr
    assert "Traceback" not in process.stderr


def test_three_jobs_at_once_share_shards_and_keep_their_own_results(cluster, tmp_path):
    make_separable_images(tmp_path / "data", per_label=40)
    variants = [("sgd", 8), ("adam", 8), ("rmsprop", 12)]

    def submit(variant):
        optimizer, size = variant
        out = tmp_path / f"{optimizer}-{size}"
        arguments = ["train", "--data", tmp_path / "data", "--optimizer", optimizer]
        arguments += ["--image-size", size, "--epochs", 3, "--shard-size", 20, "--out", out]
        return run_submit(arguments, clean_environment() | cluster.environment()), out

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=3) as pool:
        finished = list(pool.map(submit, variants))
    assert time.monotonic() - started < 300
    job_ids = set()
    for (process, out), (optimizer, size) in zip(finished, variants):
        assert process.returncode == 0, process.stderr
        metrics = json.loads((out / "metrics.json").read_text())
        job_ids.add(metrics["job_id"])
        assert (metrics["optimizer"], metrics["image_size"]) == (optimizer, size)
        assert metrics["images_used"] == 80 and metrics["shards"]["count"] == 4
        assert (out / "model.keras").exists()
    assert len(job_ids) == 3

    # The two jobs at 8 px decoded the same files at the same time: one correct shard each.
    listing = list_labelled_images(tmp_path / "data")
    store = cluster.redis()
    for shard in plan_shards(listing, 20, 8):
        header, pixels = decode_shard(store.get(shard["key"]))
        expected, used, _ = decode_files(listing.root, shard["paths"], 8, 10**9)
        assert header["paths"] == used == shard["paths"]
        np.testing.assert_array_equal(pixels, expected)
