"""Failover of a highly available cluster (a master, a replica, three sentinels).

Real processes under the settings a user gets: the master dies (SIGKILL) or
hangs (SIGSTOP) in the middle of a job, the sentinels promote the replica,
and the job finishes with no command typed. Each test first proves that its
fault happened: the sentinels name another master, and the job was where the
test meant to hit it.
"""

import json
import signal
import subprocess
import sys
import time

import pytest
import redis

from catdog_queue.client.local_cluster import REPOSITORY_ROOT, LocalCluster
from catdog_queue.jobs import train as train_job
from catdog_queue.jobs.canvas import decode_task_id
from catdog_queue.shared import sentinel
from catdog_queue.shared.listing import list_labelled_images
from catdog_queue.shared.split import stratified_split
from catdog_queue.training.outputs import held_out_digest
from tests.faults import finish, logs, signal_master, start_to, wait_for, wait_for_another_master
from tests.images import make_separable_images
from tests.integration.conftest import clean_environment, client_app, run_submit
from tests.integration.test_submit_cli import processes_mentioning, wait_until_gone

pytestmark = pytest.mark.integration
FAILOVER_WITHIN_S = 30  # what README promises: progress again within 30 s of a death


@pytest.fixture(scope="module")
def ha_cluster(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ha-cluster")
    with LocalCluster(
        folder / "cache", folder / "logs", "failover", cpu_concurrency=1,
        data_roots=[tmp_path_factory.getbasetemp()], standing=True, replicas=1,
    ) as cluster:  # fmt: skip
        yield cluster


@pytest.fixture(scope="module")
def ha_app(ha_cluster):
    with client_app(ha_cluster) as app:
        yield app


def expected_digest(folder, test_size=0.25, seed=12345) -> str:
    """The held-out digest that any run of this folder must report, failover or not."""
    files = list_labelled_images(folder).files
    labels = sorted({file.label for file in files})
    paths = [file.relative_path for file in files]
    _, test = stratified_split(paths, [labels.index(f.label) for f in files], test_size, seed)
    return held_out_digest(paths, test)


def check_every_image_counted(metrics, folder, files_on_disk: int) -> None:
    assert metrics["images_total"] == files_on_disk
    assert metrics["images_used"] + len(metrics["images_rejected"]) == files_on_disk
    assert metrics["images_rejected"] == []
    assert metrics["train_images"] + metrics["test_images"] == files_on_disk
    assert metrics["test_set_sha256"] == expected_digest(folder)


def epoch_of(result) -> int:
    info = result.info
    return info.get("epoch", 0) if result.state == "TRAINING" and isinstance(info, dict) else 0


def test_master_killed_mid_training_job_finishes(ha_cluster, ha_app, tmp_path):
    make_separable_images(tmp_path / "data", per_label=60)
    out = tmp_path / "out"
    arguments = ["train", "--data", tmp_path / "data", "--epochs", 15, "--batch-size", 4]
    process, job_id = start_to(ha_cluster, [*arguments, "--image-size", 8, "--out", out])
    training = ha_app.AsyncResult(train_job.train_task_id(job_id))
    wait_for(lambda: epoch_of(training) >= 2, timeout=180, explain=lambda: logs(ha_cluster))
    state_at_the_kill = training.state
    master = signal_master(ha_cluster, signal.SIGKILL)
    new_port = wait_for_another_master(ha_cluster, master.port)
    metrics = finish(process, out)  # its own bound (300 s) guards against a hang
    assert state_at_the_kill == "TRAINING"
    assert new_port != master.port
    assert metrics["epochs_run"] == len(metrics["history"]) == 15
    assert metrics["test_accuracy"] >= 0.9
    check_every_image_counted(metrics, tmp_path / "data", 120)
    # The dead server was started again, and follows the new master.
    revived = admin_client(ha_cluster, master.port)
    wait_for(lambda: replica_of(revived, new_port), timeout=60)


def test_master_killed_mid_decode_job_finishes(ha_cluster, ha_app, tmp_path):
    make_separable_images(tmp_path / "data", per_label=150, side=300)
    out = tmp_path / "out"
    arguments = ["train", "--data", tmp_path / "data", "--shard-size", 20, "--epochs", 1]
    process, job_id = start_to(ha_cluster, [*arguments, "--image-size", 8, "--out", out])
    decodes = [ha_app.AsyncResult(decode_task_id(job_id, index)) for index in range(15)]

    def decoding() -> bool:
        states = [result.state for result in decodes]
        return "STARTED" in states or "DECODING" in states

    wait_for(decoding, interval=0.01, explain=lambda: logs(ha_cluster))
    done_at_the_kill = sum(result.state == "SUCCESS" for result in decodes)
    master = signal_master(ha_cluster, signal.SIGKILL)
    new_port = wait_for_another_master(ha_cluster, master.port)
    metrics = finish(process, out)
    assert done_at_the_kill < 15
    assert metrics["shards"]["count"] == 15
    check_every_image_counted(metrics, tmp_path / "data", 300)
    # A server killed after the sentinels had promoted it (and rewritten its config file)
    # starts again and follows the new master: the next failover has a replica to promote.
    revived = admin_client(ha_cluster, master.port)
    wait_for(lambda: replica_of(revived, new_port), timeout=60, explain=lambda: logs(ha_cluster))


def test_a_job_submitted_while_the_master_is_dead_waits_for_the_failover(ha_cluster, tmp_path):
    make_separable_images(tmp_path / "data", per_label=10)
    master = signal_master(ha_cluster, signal.SIGKILL)
    arguments = ["train", "--data", tmp_path / "data", "--epochs", 1, "--image-size", 8]
    process = run_submit(
        [*arguments, "--out", tmp_path / "out"], clean_environment() | ha_cluster.environment()
    )
    assert process.returncode == 0, process.stderr
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["images_used"] == 20
    # The fault met the client: it found the master dead, and waited for the sentinels.
    assert "waiting for the sentinels to promote a replica" in process.stderr
    new_port = wait_for_another_master(ha_cluster, master.port)
    revived = admin_client(ha_cluster, master.port)
    wait_for(lambda: replica_of(revived, new_port), timeout=60, explain=lambda: logs(ha_cluster))


def test_a_stopped_master_comes_back_as_a_replica_and_takes_no_writes(ha_cluster, ha_app, tmp_path):
    make_separable_images(tmp_path / "data", per_label=60)
    out = tmp_path / "out"
    arguments = ["train", "--data", tmp_path / "data", "--epochs", 40, "--batch-size", 2]
    process, job_id = start_to(ha_cluster, [*arguments, "--image-size", 8, "--out", out])
    training = ha_app.AsyncResult(train_job.train_task_id(job_id))
    wait_for(lambda: epoch_of(training) >= 1, timeout=180, explain=lambda: logs(ha_cluster))
    master = signal_master(ha_cluster, signal.SIGSTOP)
    try:
        new_port = wait_for_another_master(ha_cluster, master.port)
    finally:
        master.process.send_signal(signal.SIGCONT)
    old = admin_client(ha_cluster, master.port)
    wait_for(
        lambda: replica_of(old, new_port), timeout=60, explain=lambda: str(old.info("replication"))
    )
    time.sleep(5)  # clients that still held connections to it have met READONLY by now
    refused_before = _refused_writes(old)
    wait_for(lambda: epoch_of(training) >= 3, timeout=180, explain=lambda: logs(ha_cluster))
    time.sleep(5)
    assert _refused_writes(old) == refused_before  # nothing keeps trying to write to it
    metrics = finish(process, out)
    assert metrics["epochs_run"] == 40
    check_every_image_counted(metrics, tmp_path / "data", 120)
    assert replica_of(old, new_port)


def admin_client(cluster, port: int):
    password = cluster.redis_server.passwords["admin"]
    return redis.Redis(port=port, username="admin", password=password, socket_timeout=5)


def replica_of(client, master_port: int) -> bool:
    try:
        replication = client.info("replication")
    except redis.RedisError:  # not started again yet
        return False
    return (
        replication.get("role") == "slave"
        and int(replication.get("master_port", 0)) == master_port
        and replication.get("master_link_status") == "up"
    )


def _refused_writes(client) -> int:
    """Commands the server refused (a replica refuses writes: READONLY)."""
    return sum(stats.get("rejected_calls", 0) for stats in client.info("commandstats").values())


def test_submit_py_cluster_with_a_replica_prints_the_sentinels_and_stops_them_all(tmp_path):
    """The command a user types: the sentinel URL, its cluster.env, a client, Ctrl-C."""
    command = [sys.executable, "submit.py", "cluster", "--replicas", "1", "--cpu-workers", "1"]
    command += ["--cache-dir", str(tmp_path / "cache"), "--data-root", str(tmp_path)]
    process = subprocess.Popen(
        command, cwd=REPOSITORY_ROOT, env=clean_environment(), stdout=subprocess.PIPE, text=True
    )
    try:
        broker = process.stdout.readline().strip().removeprefix("broker: ")
        parsed = sentinel.parse(broker)
        assert len(parsed["addresses"]) == 3 and parsed["username"] == "client"
        # The file other terminals load: a shell must read the ';' list back whole.
        env_file = tmp_path / "cache" / "cluster.env"
        loaded = subprocess.run(
            ["bash", "-c", f"set -a; . {env_file}; echo $CELERY_BROKER_URL"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        assert loaded == broker
        jobs = run_submit(["jobs"], clean_environment() | {"CELERY_BROKER_URL": broker})
        assert jobs.returncode == 0, jobs.stderr
        ports = [str(port) for _, port in parsed["addresses"]]
        assert all(processes_mentioning(f"127.0.0.1:{port}") for port in ports)
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
    assert process.returncode == 0
    assert all(wait_until_gone(f"127.0.0.1:{port}") == [] for port in ports)
