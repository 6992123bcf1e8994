"""docker/docker-compose.yml really runs: Redis, Flower, two CPU workers and the GPU worker
(on the CPU) in containers; submit.py on the host trains through them and brings the model
home; a CPU worker killed mid-decode and a restarted Redis lose nothing; Flower wants its
password; no password is on any container's command line."""

import json
import re
import time
import urllib.error

import pytest

from tests.docker.conftest import (
    finish,
    readable_copy_of_images,
    run,
    start_submit,
    submit,
)
from tests.images import make_separable_images

pytestmark = pytest.mark.docker

TINY = ["--epochs", 2, "--image-size", 12]


def data_set(cluster, name: str, per_label: int, side: int = 24, seed: int = 0) -> None:
    """Generate images into DATA_DIR/name: /data/name in the CPU workers."""
    folder = cluster.data_dir / name
    make_separable_images(folder, per_label=per_label, side=side, seed=seed)
    readable_copy_of_images(folder)


def train(cluster, name: str, out, *more, timeout=600):
    folder = cluster.data_dir / name
    arguments = ["train", "--data", folder, "--worker-data-dir", f"/data/{name}", "--out", out]
    process = submit(cluster, [*arguments, *TINY, *more], timeout=timeout)
    assert process.returncode == 0, f"{process.stderr[-3000:]}\n{cluster.logs()}"
    return json.loads((out / "metrics.json").read_text())


def test_the_services_run_with_two_cpu_workers(compose_cluster):
    running = {}
    for container in compose_cluster.containers():
        service = container["Config"]["Labels"]["com.docker.compose.service"]
        running[service] = running.get(service, 0) + 1
    assert running == {"redis": 1, "flower": 1, "cpu-worker": 2, "gpu-worker": 1}
    (config_step,) = compose_cluster.containers("redis-config", running_only=False)
    assert config_step["State"]["ExitCode"] == 0
    _, workers = compose_cluster.flower_get("/api/workers?refresh=1")
    assert len(workers) == 3


def test_a_job_submitted_from_the_host_trains_and_comes_home(compose_cluster, tmp_path):
    data_set(compose_cluster, "first", per_label=30)
    out = tmp_path / "out"
    metrics = train(compose_cluster, "first", out, "--shard-size", 20)
    assert metrics["images_used"] == 60 and metrics["images_rejected"] == []
    assert metrics["test_accuracy"] >= 0.8
    assert metrics["device"].startswith("CPU")
    assert metrics["shards"]["count"] == 3 and metrics["shards"]["reused"] == 0
    for name in ("model.keras", "model.h5", "history.png"):
        assert (out / name).stat().st_size > 0


def test_the_gpu_worker_has_no_data_mount(compose_cluster):
    (gpu_worker,) = compose_cluster.containers("gpu-worker")
    assert gpu_worker["Mounts"] == []
    for cpu_worker in compose_cluster.containers("cpu-worker"):
        mounts = [(m["Type"], m["Destination"], m["RW"]) for m in cpu_worker["Mounts"]]
        assert mounts == [("bind", "/data", False)]
    # Nothing of the data inside either: pixels and models travel through Redis.
    listing = run(["docker", "exec", gpu_worker["Id"], "ls", "-A", "/"], 60).stdout.split()
    assert "data" not in listing


def test_no_password_is_on_any_command_line(compose_cluster):
    secrets = [compose_cluster.redis_password, compose_cluster.flower_credentials.split(":")[1]]
    containers = compose_cluster.containers(running_only=False)
    assert len(containers) == 6  # redis-config included
    for container in containers:
        name = container["Name"]
        shown = json.dumps(
            [
                container["Path"],
                container["Args"],
                container["Config"]["Cmd"],
                container["Config"]["Entrypoint"],
                container["Config"].get("Healthcheck"),
            ]
        )
        for secret in secrets:
            assert secret not in shown, f"{name}: a password on its command line"
        if container["State"]["Running"]:
            processes = run(["docker", "top", container["Id"], "-eo", "pid,args"], 60).stdout
            for secret in secrets:
                assert secret not in processes, f"{name}: a password in `docker top`"
    # Where it is instead: Redis's config file, written by the redis-config step.
    (redis,) = compose_cluster.containers("redis")
    config = run(["docker", "exec", redis["Id"], "cat", "/etc/catdog/redis/redis.conf"], 60)
    assert f"requirepass {compose_cluster.redis_password}" in config.stdout.splitlines()


def test_redis_refuses_dangerous_commands_and_never_evicts(compose_cluster):
    import redis

    client = redis.Redis.from_url(compose_cluster.broker_url(), socket_timeout=10)
    try:
        for command in (
            ["CONFIG", "GET", "maxmemory-policy"],
            ["KEYS", "*"],
            ["FLUSHALL"],
            ["FLUSHDB"],
            ["DEBUG", "SLEEP", "0"],
            ["SHUTDOWN", "NOSAVE"],
            ["BGSAVE"],
            ["MODULE", "LIST"],
        ):
            with pytest.raises(redis.ResponseError, match="unknown command"):
                client.execute_command(*command)
        assert client.info("memory")["maxmemory_policy"] == "noeviction"
        assert client.info("persistence")["aof_enabled"] == 1
        assert client.ping()
    finally:
        client.close()
    wrong = f"redis://:not-the-password@127.0.0.1:{compose_cluster.redis_port}/0"
    with pytest.raises(redis.AuthenticationError):
        redis.Redis.from_url(wrong, socket_timeout=10).ping()


def test_flower_wants_the_password(compose_cluster):
    for path in ("/", "/tasks", "/api/tasks", "/api/workers"):
        with pytest.raises(urllib.error.HTTPError) as refused:
            compose_cluster.flower_get(path, credentials=None)
        assert refused.value.code == 401, path
        with pytest.raises(urllib.error.HTTPError) as refused:
            compose_cluster.flower_get(path, credentials="tester:wrong")
        assert refused.value.code == 401, path


def test_flower_lists_a_jobs_tasks_with_the_password(compose_cluster, tmp_path):
    data_set(compose_cluster, "flower", per_label=20, seed=3)
    metrics = train(compose_cluster, "flower", tmp_path / "out", "--shard-size", 20)
    job_id = metrics["job_id"]
    deadline = time.monotonic() + 60
    while True:
        status, tasks = compose_cluster.flower_get("/api/tasks?limit=1000")
        mine = {task_id: task for task_id, task in tasks.items() if task_id.startswith(job_id)}
        if len(mine) == 3 and all(task["state"] == "SUCCESS" for task in mine.values()):
            break
        assert time.monotonic() < deadline, mine
        time.sleep(1)
    assert status == 200
    assert {task_id: task["name"] for task_id, task in mine.items()} == {
        f"{job_id}-decode-0": "catdog.decode_shard",
        f"{job_id}-decode-1": "catdog.decode_shard",
        f"{job_id}-train": "catdog.train",
    }


def test_a_cpu_worker_killed_mid_decode_loses_nothing(compose_cluster, tmp_path):
    # 40 shards of 10 images, 2 workers: decoding lasts long enough to catch a worker at it.
    data_set(compose_cluster, "killed", per_label=200, side=160, seed=5)
    out = tmp_path / "out"
    arguments = ["train", "--data", compose_cluster.data_dir / "killed"]
    arguments += ["--worker-data-dir", "/data/killed", "--shard-size", 10, "--out", out, *TINY]
    process, job_id = start_submit(compose_cluster, arguments)
    try:
        victim, orphans = _pause_a_worker_holding_a_task(compose_cluster, job_id, timeout_s=120)
        run(["docker", "kill", victim], 60)  # SIGKILL: no warm shutdown, no ack
    finally:
        # The orphaned task comes back after the visibility timeout (about 30 s here) and
        # the next sweep for unacknowledged messages of the other worker.
        code, stderr = finish(process, timeout=600)
    assert code == 0, f"{stderr[-3000:]}\n{compose_cluster.logs()}"
    metrics = json.loads((out / "metrics.json").read_text())
    # Every file counted once: the killed worker's shard was decoded again elsewhere.
    assert metrics["images_used"] == 400 and metrics["images_rejected"] == []
    assert metrics["shards"]["count"] == 40
    survivors = [c["Id"] for c in compose_cluster.containers("cpu-worker") if c["Id"] != victim]
    finished = set().union(*(_decode_tasks(compose_cluster, c, job_id)[1] for c in survivors))
    assert orphans <= finished, f"{orphans - finished} never ran again"


def _decode_tasks(cluster, container: str, job_id: str) -> tuple[set, set]:
    """Task ids of the job's decode tasks that a worker received, and that it finished."""
    logs = run(["docker", "logs", container], 60)
    text = logs.stdout + logs.stderr
    task = rf"Task catdog\.decode_shard\[({re.escape(job_id)}-decode-\d+)\]"
    received = set(re.findall(task + " received", text))
    finished = set(re.findall(task + " (?:succeeded|failed|raised)", text))
    return received, finished


def _pause_a_worker_holding_a_task(cluster, job_id: str, timeout_s: float) -> tuple[str, set]:
    """Freeze a CPU worker that holds an unfinished decode task of the job (so the kill
    lands mid-task, not between two tasks); returns (container id, the tasks it holds)."""
    workers = [container["Id"] for container in cluster.containers("cpu-worker")]
    deadline = time.monotonic() + timeout_s
    while True:
        for worker in workers:
            run(["docker", "pause", worker], 60)
            holding = set()
            try:
                received, finished = _decode_tasks(cluster, worker, job_id)
                holding = received - finished
            finally:
                if not holding:
                    run(["docker", "unpause", worker], 60)
            if holding:
                return worker, holding
        assert time.monotonic() < deadline, f"no worker seen holding a decode task of {job_id}"
        time.sleep(0.05)


def test_a_restarted_redis_keeps_the_shard_cache(compose_cluster, tmp_path):
    data_set(compose_cluster, "restart", per_label=20, seed=9)
    first = train(compose_cluster, "restart", tmp_path / "first", "--shard-size", 10)
    assert first["shards"]["reused"] == 0
    compose_cluster.run("restart", "redis", timeout=120)
    _wait_for_redis(compose_cluster, timeout_s=60)
    compose_cluster.wait_until_ready(workers=2)
    second = train(compose_cluster, "restart", tmp_path / "second", "--shard-size", 10)
    assert second["shards"]["reused"] == second["shards"]["count"] == first["shards"]["count"]
    assert second["images_used"] == first["images_used"] == 40


def _wait_for_redis(cluster, timeout_s: float) -> None:
    import redis

    deadline = time.monotonic() + timeout_s
    while True:
        client = redis.Redis.from_url(cluster.broker_url(), socket_timeout=5)
        try:
            if client.ping():
                return
        except redis.RedisError:
            assert time.monotonic() < deadline, f"redis not back:\n{cluster.logs()}"
            time.sleep(0.5)
        finally:
            client.close()
