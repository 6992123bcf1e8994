"""``submit.py`` as a user meets it: the embedded cluster, Ctrl-C, and bad input."""

import os
import re
import signal
import socket

import pytest

from catdog_queue.shared.waiting import wait_until
from tests.images import make_separable_images
from tests.integration.conftest import clean_environment, run_submit, start_submit

pytestmark = pytest.mark.integration


def processes_mentioning(text: str) -> list[str]:
    """Command lines of live processes that contain ``text``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                command = cmdline.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in command:
            found.append(f"{entry}: {command}")
    return found


def wait_until_gone(text: str, seconds: float = 20) -> list[str]:
    """The processes still mentioning ``text`` once they are gone, or ``seconds`` passed."""
    wait_until(lambda: not processes_mentioning(text), seconds, interval_s=0.2)
    return processes_mentioning(text)


def redis_address(output: str) -> str:
    """``127.0.0.1:PORT`` of the local cluster's Redis, as submit.py printed it.

    redis-server shows it in its process title.
    """
    return re.search(r"redis on (127\.0\.0\.1:\d+)", output).group(1)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def assert_one_line_error(process, *fragments):
    lines = process.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    assert errors == lines[-1:], process.stderr
    assert "Traceback" not in process.stderr
    for fragment in fragments:
        assert fragment in errors[0]


def test_embedded_cluster_trains_stops_and_keeps_its_shard_cache(tmp_path):
    make_separable_images(tmp_path / "data", per_label=15)
    common = ["train", "--data", tmp_path / "data", "--image-size", 8, "--epochs", 2]
    common += ["--cache-dir", tmp_path / "cache"]
    first = run_submit([*common, "--out", tmp_path / "first"])
    assert first.returncode == 0, first.stderr
    assert "local cluster: redis on 127.0.0.1" in first.stderr
    assert (tmp_path / "first" / "model.keras").exists()
    assert (tmp_path / "cache" / "shard-cache.aof").exists()
    job_id = first.stderr.split(":", 1)[0].removeprefix("job ")
    assert wait_until_gone(job_id) == []  # workers
    assert wait_until_gone(redis_address(first.stderr)) == []

    # A new embedded Redis loads the saved cache: nothing is decoded again.
    second = run_submit([*common, "--out", tmp_path / "second"])
    assert second.returncode == 0, second.stderr
    import json

    metrics = json.loads((tmp_path / "second" / "metrics.json").read_text())
    assert metrics["shards"]["reused"] == metrics["shards"]["count"] == 1


def test_ctrl_c_stops_every_local_process(tmp_path):
    make_separable_images(tmp_path / "data", per_label=30)
    arguments = ["train", "--data", tmp_path / "data", "--epochs", 100000, "--image-size", 8]
    arguments += ["--batch-size", 4, "--cache-dir", tmp_path / "cache", "--out", tmp_path / "out"]
    client, job_id = start_submit(arguments)
    # Interrupt once training is under way: every process of the cluster is up.
    seen = ""
    for line in client.stderr:
        seen += line
        if "assembling" in line:
            break
    wait_until(lambda: len(processes_mentioning(job_id)) >= 2, 60, interval_s=0.1)
    assert len(processes_mentioning(job_id)) >= 2  # the cpu and gpu workers
    assert processes_mentioning(redis_address(seen)) != []
    client.send_signal(signal.SIGINT)
    remaining_output = client.communicate(timeout=60)[1]
    assert client.returncode == 130
    assert "interrupted" in remaining_output
    assert "Traceback" not in remaining_output
    assert wait_until_gone(job_id) == []
    assert wait_until_gone(redis_address(seen)) == []
    assert not (tmp_path / "out" / "model.keras").exists()


def test_unreachable_broker_fails_fast_with_one_line(tmp_path):
    make_separable_images(tmp_path / "data", per_label=3)
    port = closed_port()
    process = run_submit(
        ["train", "--data", tmp_path / "data", "--broker", f"redis://:hunter2@127.0.0.1:{port}/0"]
    )
    assert process.returncode == 1
    # Fast: the first refusal is the answer; only a sentinel:// URL waits for a failover.
    assert_one_line_error(process, f"127.0.0.1:{port}", "Connection refused")
    assert "waiting" not in process.stderr
    assert "hunter2" not in process.stderr


def test_missing_data_folder_is_a_usage_error(tmp_path):
    process = run_submit(["train", "--data", tmp_path / "nowhere"])
    assert process.returncode == 2
    assert_one_line_error(process, "data folder not found", "nowhere")


def test_folder_without_images_is_a_usage_error(tmp_path):
    (tmp_path / "README.txt").write_text("no images here")
    process = run_submit(["train", "--data", tmp_path])
    assert process.returncode == 2
    assert_one_line_error(process, "no images named LABEL.N.jpg")


def test_single_label_is_a_usage_error(tmp_path):
    make_separable_images(tmp_path, per_label=2)
    for dog in tmp_path.glob("dog.*"):
        dog.unlink()
    process = run_submit(["train", "--data", tmp_path])
    assert process.returncode == 2
    assert_one_line_error(process, "only the label 'cat'", "at least two labels")


def test_an_output_folder_that_cannot_be_made_is_a_usage_error_before_any_work(tmp_path):
    make_separable_images(tmp_path / "data", per_label=3)
    (tmp_path / "a-file").write_text("not a folder")
    process = run_submit(
        ["train", "--data", tmp_path / "data", "--out", tmp_path / "a-file" / "run"]
    )
    assert process.returncode == 2
    assert_one_line_error(process, "cannot write results into", "a-file")
    assert "local cluster" not in process.stderr  # nothing was started


def test_a_cache_folder_that_cannot_be_made_is_one_line(tmp_path):
    make_separable_images(tmp_path / "data", per_label=3)
    (tmp_path / "a-file").write_text("not a folder")
    process = run_submit(["train", "--data", tmp_path / "data", "--out", tmp_path / "out",
                          "--cache-dir", tmp_path / "a-file" / "cache"])  # fmt: skip
    assert process.returncode == 1
    assert_one_line_error(process, "Not a directory", "a-file")


def test_a_bad_setting_in_the_environment_is_one_line(tmp_path):
    make_separable_images(tmp_path / "data", per_label=3)
    environment = clean_environment() | {"CATDOG_SHARD_TTL_DAYS": "a week"}
    process = run_submit(["train", "--data", tmp_path / "data", "--out", tmp_path / "out"],
                         environment)  # fmt: skip
    assert process.returncode == 2
    assert_one_line_error(process, "CATDOG_SHARD_TTL_DAYS must be a number", "'a week'")


def test_redis_out_of_memory_is_one_line(tmp_path):
    """The cache folder's Redis, full: the client says so instead of a traceback."""
    from catdog_queue.client.local_cluster.redis_server import LocalRedis

    make_separable_images(tmp_path / "data", per_label=5)
    held = LocalRedis(tmp_path / "cache")
    held.attach()  # this test is a user of the folder's Redis too, so it stays up
    try:
        held.client("admin").config_set("maxmemory", "1")
        arguments = ["train", "--data", tmp_path / "data", "--image-size", 8]
        process = run_submit(
            [*arguments, "--cache-dir", tmp_path / "cache", "--out", tmp_path / "o"]
        )
    finally:
        held.detach()
    assert process.returncode == 1
    assert_one_line_error(process, "Redis answered: OutOfMemoryError")
