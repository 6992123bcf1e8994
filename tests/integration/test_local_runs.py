"""The embedded cluster when the client dies, and when two runs share a cache folder."""

import json
import re
import signal
from concurrent.futures import ThreadPoolExecutor

import pytest

from catdog_queue.shared.waiting import wait_until
from tests.images import make_separable_images
from tests.integration.conftest import run_submit, start_submit
from tests.integration.test_submit_cli import (
    processes_mentioning,
    redis_address,
    wait_until_gone,
)

pytestmark = pytest.mark.integration


def interrupt_once(client, job_id: str):
    client.send_signal(signal.SIGINT)


def interrupt_twice(client, job_id: str):
    """A second Ctrl-C while the first one is still stopping things: once its workers have
    begun to go (the first was handled), and while the client is still running."""
    workers = len(processes_mentioning(job_id))
    client.send_signal(signal.SIGINT)
    wait_until(lambda: len(processes_mentioning(job_id)) < workers, 30, interval_s=0.01)
    assert client.poll() is None, "the client ended before a second Ctrl-C could reach it"
    client.send_signal(signal.SIGINT)


KILLS = {
    "Ctrl-C": interrupt_once,
    "SIGTERM": lambda client, _: client.send_signal(signal.SIGTERM),
    "SIGHUP": lambda client, _: client.send_signal(signal.SIGHUP),
    "SIGKILL": lambda client, _: client.send_signal(signal.SIGKILL),
    "Ctrl-C twice": interrupt_twice,
}


def reached_epoch(client, epoch: int) -> str:
    """Read the client's lines until training reaches ``epoch``; returns what was read.

    The client polls, so on a fast machine it may print epoch 2 then epoch 4:
    any epoch at or past the one asked for will do.
    """
    seen = ""
    for line in client.stderr:  # not a terminal: one plain line per progress step
        seen += line
        match = re.match(r"train: epoch (\d+)/", line)
        if match and int(match.group(1)) >= epoch:
            return seen
    raise AssertionError(f"the client ended before training reached epoch {epoch}:\n{seen}")


@pytest.mark.parametrize("kill", KILLS.values(), ids=KILLS.keys())
def test_resume_finishes_a_job_whose_client_was_killed(tmp_path, kill):
    make_separable_images(tmp_path / "data", per_label=60)
    cache = tmp_path / "cache"
    arguments = ["train", "--data", tmp_path / "data", "--epochs", 25, "--batch-size", 2]
    arguments += ["--image-size", 8, "--cache-dir", cache, "--out", tmp_path / "first"]
    client, job_id = start_submit(arguments)
    seen = reached_epoch(client, 3)
    kill(client, job_id)
    client.communicate(timeout=60)
    assert client.returncode != 0
    assert wait_until_gone(job_id) == []  # the workers
    assert wait_until_gone(redis_address(seen)) == []  # the cache folder's Redis, saved

    resumed = run_submit(["resume", job_id, "--cache-dir", cache, "--out", tmp_path / "second"])
    assert resumed.returncode == 0, resumed.stderr
    metrics = json.loads((tmp_path / "second" / "metrics.json").read_text())
    assert metrics["job_id"] == job_id
    assert metrics["resumed_from_epoch"] >= 3
    assert metrics["epochs_run"] == len(metrics["history"]) == 25
    assert metrics["shards"]["reused"] == metrics["shards"]["count"]


def test_two_runs_sharing_a_cache_folder_keep_both_caches(tmp_path):
    for name in ("a", "b"):
        make_separable_images(tmp_path / name, per_label=40, seed=ord(name))
    cache = tmp_path / "cache"

    def train(name: str, out: str):
        arguments = ["train", "--data", tmp_path / name, "--epochs", 30, "--batch-size", 4]
        arguments += ["--image-size", 8, "--cache-dir", cache, "--out", tmp_path / out]
        return run_submit(arguments)

    with ThreadPoolExecutor(max_workers=2) as pool:  # at the same time, one Redis
        first = list(pool.map(train, ["a", "b"], ["a1", "b1"]))
    for process in first:
        assert process.returncode == 0, process.stderr
    addresses = {redis_address(process.stderr) for process in first}
    assert len(addresses) == 1, "the two runs did not share the folder's Redis"

    for name in ("a", "b"):  # one after the other: each finds its shards
        again = run_submit(
            ["train", "--data", tmp_path / name, "--epochs", 1, "--image-size", 8,
             "--cache-dir", cache, "--out", tmp_path / f"{name}2"]
        )  # fmt: skip
        assert again.returncode == 0, again.stderr
        metrics = json.loads((tmp_path / f"{name}2" / "metrics.json").read_text())
        assert metrics["shards"]["reused"] == metrics["shards"]["count"] == 1
