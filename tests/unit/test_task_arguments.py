"""Task arguments a worker refuses before doing any work (no broker needed)."""

import pytest

from catdog_queue.shared.options import MAX_IMAGE_SIZE
from catdog_queue.shared.task_arguments import (
    TaskRefused,
    check_data_root,
    check_job_id,
    check_model_key,
    check_shard,
    check_shards,
)

KEY = "catdog:shard:" + "ab" * 32
BOUND = 64_000_000


def shard(**changes) -> dict:
    return {"key": KEY, "index": 0, "paths": ["cat.0.jpg", "dog.0.jpg"], "image_size": 32} | changes


def test_a_shard_the_client_plans_passes():
    assert check_shard(shard(), BOUND) == shard()
    assert check_shard(shard(uploaded=True, cached={"key": KEY}), BOUND)["uploaded"] is True


@pytest.mark.parametrize(
    "changes, words",
    [
        ({"image_size": 100_000}, f"from 1 to {MAX_IMAGE_SIZE}, received 100000"),
        ({"image_size": "32"}, "received '32'"),
        ({"paths": ["cat.0.jpg"] * 400, "image_size": 512}, "314,572,800 bytes"),
        ({"paths": ["cat.0.jpg", "cat.0.jpg"]}, "more than once"),
        ({"paths": []}, "non-empty list"),
        ({"paths": "cat.0.jpg"}, "non-empty list"),
        ({"paths": ["/etc/passwd"]}, "relative paths"),
        ({"paths": ["a/../../etc/passwd"]}, "relative paths"),
        ({"paths": ["a\x00b"]}, "relative paths"),
        ({"paths": [7]}, "relative paths"),
        ({"key": "catdog:job:x:record"}, "64 hex digits"),
        ({"index": -1}, "shard index"),
        ({"index": True}, "shard index"),
        ({"uploaded": "yes"}, "uploaded must be"),
        ({"extra": 1}, "unknown shard fields ['extra']"),
    ],
)
def test_a_malformed_shard_is_refused_naming_what_was_received(changes, words):
    with pytest.raises(TaskRefused) as refused:
        check_shard(shard(**changes), BOUND)
    assert words in str(refused.value)


def test_the_byte_bound_is_computed_before_any_allocation():
    # 81 images of 512 px fit 64 MB; 82 do not.
    paths = [f"cat.{n}.jpg" for n in range(82)]
    assert check_shard(shard(paths=paths[:81], image_size=512), BOUND)
    with pytest.raises(TaskRefused, match="over this worker's bound of 64,000,000"):
        check_shard(shard(paths=paths, image_size=512), BOUND)
    # One image is always allowed, however small the bound (as the client plans it).
    assert check_shard(shard(paths=paths[:1], image_size=512), 10)


def test_shards_of_one_task_share_one_image_size():
    with pytest.raises(TaskRefused, match="one image size"):
        check_shards([shard(), shard(index=1, image_size=64)], BOUND)
    with pytest.raises(TaskRefused, match="list of 1 to"):
        check_shards([], BOUND)
    with pytest.raises(TaskRefused, match="list of 1 to"):
        check_shards({"0": shard()}, BOUND)


@pytest.mark.parametrize("job_id", ["20261129-202606-0ba613", "20261129-202606-0ba613-sgd-0.01"])
def test_job_ids_the_client_makes_pass(job_id):
    assert check_job_id(job_id) == job_id


@pytest.mark.parametrize("job_id", ["", "/etc", "../x", "a b", "a:b", "x" * 129, 7, None, "-x"])
def test_other_job_ids_are_refused(job_id):
    with pytest.raises(TaskRefused, match="job id must be"):
        check_job_id(job_id)


@pytest.mark.parametrize("data_root", ["relative/folder", "", "/a\x00b", 3, "/" + "a" * 5000])
def test_data_roots_must_be_absolute_paths(data_root):
    with pytest.raises(TaskRefused, match="absolute folder path"):
        check_data_root(data_root)


def test_model_keys_must_name_a_jobs_model():
    good = "catdog:job:20261129-202606-0ba613:artifact:model.keras"
    assert check_model_key(good) == good
    uploaded = good.replace("model.keras", "input-model.h5")  # what `predict --model` sends
    assert check_model_key(uploaded) == uploaded
    for bad in ["catdog:shard:" + "a" * 64, good.replace("model.keras", "x"), good + "\n", 1]:
        with pytest.raises(TaskRefused, match="model_key must name"):
            check_model_key(bad)
