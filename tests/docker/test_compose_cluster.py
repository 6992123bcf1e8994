"""docker/docker-compose.yml really runs: Redis, Flower, two CPU workers and the GPU worker
(on the CPU) in containers; submit.py on the host trains through them and brings the model
home; a CPU worker killed mid-decode (default settings: the watchdog re-queues its task) and
a restarted Redis lose nothing; each service logs in as its own Redis user, which cannot
reconfigure, wipe or stop Redis, while admin can; Flower wants its password, for /metrics
too; no password is on any container's command line."""

import datetime
import json
import os
import re
import signal
import time
import urllib.error
from pathlib import Path

import pytest

from catdog_queue.shared import redis_acl
from tests.docker.conftest import (
    PROBE,
    finish,
    readable_copy_of_images,
    run,
    start_submit,
    submit,
)
from tests.faults import wait_for
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
    # The job ran with the client, worker and flower users: Redis refused none of their
    # commands, heartbeats and watchdog included (checked after every test too).
    assert compose_cluster.denied_commands() == []


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
    passwords = compose_cluster.passwords
    secrets = [*passwords.values(), compose_cluster.flower_credentials.split(":")[1]]
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
    # Where they are instead: Redis's config file, written by the redis-config step...
    (redis,) = compose_cluster.containers("redis")
    config = run(["docker", "exec", redis["Id"], "cat", "/etc/catdog/redis/redis.conf"], 60)
    users = [line for line in config.stdout.splitlines() if line.startswith("user ")]
    assert users[0] == "user default off ~* &* +@all"  # docker/redis_config.py DEFAULT_USER
    assert users[1:] == redis_acl.acl_lines(passwords)[1:]
    # ... and the environment of the services that log in with them, each its own user's;
    # admin's goes to the redis-config step only.
    own = {"cpu-worker": {"worker"}, "gpu-worker": {"worker"}, "flower": {"flower"}}
    own |= {"redis": {"worker"}, "redis-config": set(passwords)}  # redis: its health check
    for container in containers:
        service = container["Config"]["Labels"]["com.docker.compose.service"]
        environment = "\n".join(container["Config"]["Env"])
        holds = {role for role, password in passwords.items() if password in environment}
        assert holds == own[service], service


# What no holder of a worker's, a client's or Flower's password may do: write a file where
# Redis may (CONFIG SET dir, then SAVE), wipe everything, stop the server, read every key
# name, copy the data out. Each is refused by the user's rules (NOPERM).
FORBIDDEN = (
    ["CONFIG", "SET", "dir", "/tmp"],
    ["CONFIG", "GET", "*"],
    ["FLUSHALL"],
    ["FLUSHDB"],
    ["SHUTDOWN", "NOSAVE"],
    ["KEYS", "*"],
    ["SAVE"],
    ["MODULE", "LIST"],
    ["BGSAVE"],
    ["ACL", "LIST"],
    ["REPLICAOF", "127.0.0.1", "1"],
    ["MONITOR"],
)
# Refused to every user, admin too, by Redis 7 itself before any ACL rule is looked at
# (enable-debug-command and enable-module-command are off).
NOBODY = (["DEBUG", "SLEEP", "0"], ["MODULE", "LOAD", "/tmp/module.so"])


# A key each user may write (shared/redis_acl.py): the probe of "what the cluster does".
WRITABLE = {
    "worker": "catdog:test:worker",
    "client": "catdog:job:acl-probe:cancel",
    "flower": "celeryev.acl-probe",
}


@pytest.mark.parametrize("role", ["worker", "client", "flower"])
def test_a_services_redis_user_cannot_reconfigure_wipe_or_stop_redis(compose_cluster, role):
    import redis

    user = compose_cluster.redis(role, client_name=PROBE)
    key = WRITABLE[role]
    try:
        user.set(key, "written")  # what the cluster does: allowed
        for command in FORBIDDEN:
            with pytest.raises(redis.exceptions.NoPermissionError):
                user.execute_command(*command)
        for command in NOBODY:
            with pytest.raises(redis.ResponseError, match="command not allowed"):
                user.execute_command(*command)
        assert user.get(key) == b"written"  # nothing was wiped
        assert user.delete(key) == 1
    finally:
        user.close()
    admin = compose_cluster.redis()
    try:
        assert admin.config_get("dir") == {"dir": "/data"}  # not moved
        # Each refusal is in the ACL LOG, under the user's name.
        logged = {e["object"] for e in admin.acl_log(count=1000) if e["username"] == role}
        assert {"config|set", "flushall", "shutdown", "keys", "save"} <= logged
    finally:
        admin.close()


def test_the_admin_user_can_and_redis_never_evicts(compose_cluster):
    import redis

    admin = compose_cluster.redis()
    spare = compose_cluster.redis(db=15)  # a database the cluster does not use
    try:
        assert admin.config_get("maxmemory-policy") == {"maxmemory-policy": "noeviction"}
        assert admin.config_set("maxmemory-policy", "noeviction")
        assert admin.info("persistence")["aof_enabled"] == 1
        assert admin.acl_whoami() == "admin"
        spare.set("catdog:test:admin", "x")
        assert spare.execute_command("FLUSHDB") in (b"OK", "OK", True)
        assert spare.dbsize() == 0
        # SHUTDOWN passes admin's rules (ABORT: there is no shutdown to abort, so the server
        # says so and stays up; the restart test below stops it for real as admin).
        with pytest.raises(redis.ResponseError, match="No shutdown in progress"):
            admin.execute_command("SHUTDOWN", "ABORT")
        # CONFIG SET dir passes admin's rules too, but Redis 7 itself refuses it at run
        # time: dir is a protected config (enable-protected-configs is off).
        with pytest.raises(redis.ResponseError, match="protected config") as refused:
            admin.config_set("dir", "/tmp")
        assert not isinstance(refused.value, redis.exceptions.NoPermissionError)
        assert admin.config_get("dir") == {"dir": "/data"}
        for command in NOBODY:
            with pytest.raises(redis.ResponseError, match="command not allowed"):
                admin.execute_command(*command)
    finally:
        spare.close()
        admin.close()


def test_no_user_without_a_password_and_no_wrong_password(compose_cluster):
    import redis

    port = compose_cluster.redis_port
    for url in (
        f"redis://127.0.0.1:{port}/0",  # the default user is off
        f"redis://:not-the-password-0123456789@127.0.0.1:{port}/0",
        f"redis://admin:not-the-password-0123456789@127.0.0.1:{port}/0",
        f"redis://nobody:not-the-password-0123456789@127.0.0.1:{port}/0",
    ):
        client = redis.Redis.from_url(url, socket_timeout=10)
        try:
            with pytest.raises((redis.AuthenticationError, redis.ResponseError)):
                client.set("catdog:test:anonymous", "x")
        finally:
            client.close()


def test_flower_wants_the_password(compose_cluster):
    # /metrics too: workers/flowerconfig.py closes what Flower 2.2 leaves open.
    for path in ("/", "/tasks", "/api/tasks", "/api/workers", "/metrics"):
        with pytest.raises(urllib.error.HTTPError) as refused:
            compose_cluster.flower_get(path, credentials=None)
        assert refused.value.code == 401, path
        with pytest.raises(urllib.error.HTTPError) as refused:
            compose_cluster.flower_get(path, credentials="admin:wrong")
        assert refused.value.code == 401, path
    status, metrics = compose_cluster.flower_text("/metrics")
    assert status == 200 and "flower_events_total" in metrics


def test_flower_lists_a_jobs_tasks_with_the_password(compose_cluster, tmp_path):
    data_set(compose_cluster, "flower", per_label=20, seed=3)
    metrics = train(compose_cluster, "flower", tmp_path / "out", "--shard-size", 20)
    job_id = metrics["job_id"]
    answers = []

    def every_task_succeeded() -> bool:
        status, tasks = compose_cluster.flower_get("/api/tasks?limit=1000")
        mine = {task_id: task for task_id, task in tasks.items() if task_id.startswith(job_id)}
        answers.append((status, mine))
        return len(mine) == 3 and all(task["state"] == "SUCCESS" for task in mine.values())

    wait_for(every_task_succeeded, 60, 1, lambda: str(answers[-1:]))
    status, mine = answers[-1]
    assert status == 200
    assert {task_id: task["name"] for task_id, task in mine.items()} == {
        f"{job_id}-decode-0": "catdog.decode_shard",
        f"{job_id}-decode-1": "catdog.decode_shard",
        f"{job_id}-train": "catdog.train",
    }


# The product's promise: a dead worker's tasks run again within this long of its death.
RECOVERY_S = 120


def test_a_cpu_worker_killed_mid_decode_loses_nothing(compose_cluster, tmp_path):
    # 40 shards of 10 images, 2 workers: decoding lasts long enough to catch a worker at it.
    # Default settings: the visibility timeout is hours; the workers' watchdog re-queues.
    data_set(compose_cluster, "killed", per_label=200, side=160, seed=5)
    out = tmp_path / "out"
    arguments = ["train", "--data", compose_cluster.data_dir / "killed"]
    arguments += ["--worker-data-dir", "/data/killed", "--shard-size", 10, "--out", out, *TINY]
    process, job_id = start_submit(compose_cluster, arguments)
    killed_at = None
    try:
        victim, orphans = _pause_a_worker_holding_a_task(compose_cluster, job_id, timeout_s=120)
        run(["docker", "kill", victim], 60)  # SIGKILL: no warm shutdown, no ack
        killed_at = time.time()
    finally:
        # The orphaned task comes back once the dead worker's registry entry has expired
        # and a live worker's watchdog finds it held by nobody.
        code, stderr = finish(process, timeout=600)
    job_ended_s = time.time() - killed_at
    assert code == 0, f"{stderr[-3000:]}\n{compose_cluster.logs()}"
    metrics = json.loads((out / "metrics.json").read_text())
    # Every file counted once: the killed worker's shard was decoded again elsewhere.
    assert metrics["images_used"] == 400 and metrics["images_rejected"] == []
    assert metrics["shards"]["count"] == 40
    survivors = [c["Id"] for c in compose_cluster.containers("cpu-worker") if c["Id"] != victim]
    finished = {}
    for survivor in survivors:
        finished |= _decode_tasks(compose_cluster, survivor, job_id)[1]
    assert orphans <= set(finished), f"{set(orphans) - set(finished)} never ran again"
    recovered_s = max(finished[task] for task in orphans) - killed_at
    print(
        f"killed a cpu worker holding {sorted(orphans)}: its tasks ran again on another"
        f" worker {recovered_s:.1f} s after the kill; the job ended {job_ended_s:.1f} s after it"
    )
    assert 0 < recovered_s < RECOVERY_S
    assert job_ended_s < RECOVERY_S


def _decode_tasks(cluster, container: str, job_id: str) -> tuple[set, dict]:
    """Task ids of the job's decode tasks that a worker received, and those it finished,
    each with when it finished (seconds since the epoch, from Docker's log timestamps)."""
    logs = run(["docker", "logs", "--timestamps", container], 60)
    text = logs.stdout + logs.stderr
    task = rf"Task catdog\.decode_shard\[({re.escape(job_id)}-decode-\d+)\]"
    received = set(re.findall(task + " received", text))
    finished = {}
    for stamp, task_id in re.findall(
        r"^(\S+) .*" + task + " (?:succeeded|failed|raised)", text, re.MULTILINE
    ):
        finished[task_id] = _epoch_seconds(stamp)
    return received, finished


def _epoch_seconds(stamp: str) -> float:
    """Docker's RFC 3339 log timestamp (UTC, nanoseconds) as seconds since the epoch."""
    whole, _, fraction = stamp.rstrip("Z").partition(".")
    parsed = datetime.datetime.fromisoformat(whole).replace(tzinfo=datetime.timezone.utc)
    return parsed.timestamp() + float(f"0.{fraction or 0}")


def _pause_a_worker_holding_a_task(cluster, job_id: str, timeout_s: float) -> tuple[str, set]:
    """Freeze a CPU worker that holds an unfinished decode task of the job (so the kill
    lands mid-task, not between two tasks); returns (container id, the tasks it holds)."""
    workers = [container["Id"] for container in cluster.containers("cpu-worker")]
    paused = []

    def one_paused_holding_a_task() -> bool:
        for worker in workers:
            run(["docker", "pause", worker], 60)
            holding = set()
            try:
                received, finished = _decode_tasks(cluster, worker, job_id)
                holding = received - set(finished)
            finally:
                if not holding:
                    run(["docker", "unpause", worker], 60)
            if holding:
                paused.append((worker, holding))
                return True
        return False

    wait_for(
        one_paused_holding_a_task, timeout_s,
        explain=lambda: f"no worker seen holding a decode task of {job_id}",
    )  # fmt: skip
    return paused[0]


def test_the_gpu_worker_answers_while_it_trains_and_replaces_a_killed_pool_process(
    compose_cluster, tmp_path
):
    """workers.worker_command("gpu") in its container: the main process holds no TensorFlow
    and answers a ping while its one pool process trains; that process killed (as the
    kernel kills one out of memory), the main process starts another, and the task is
    tried again from its checkpoint."""
    data_set(compose_cluster, "gpu-pool", per_label=60, seed=13)
    out = tmp_path / "out"
    arguments = ["train", "--data", compose_cluster.data_dir / "gpu-pool", "--out", out]
    arguments += ["--worker-data-dir", "/data/gpu-pool", "--epochs", 30, "--batch-size", 2]
    (gpu_worker,) = compose_cluster.containers("gpu-worker")
    process, job_id = start_submit(compose_cluster, [*arguments, "--image-size", 16])
    try:
        _wait_for_epoch(compose_cluster, f"{job_id}-train", 2, timeout_s=240)
        main, children = _celery_processes(gpu_worker["Id"])
        (child,) = children
        assert "tensorflow" in Path(f"/proc/{child}/maps").read_text()
        assert "tensorflow" not in Path(f"/proc/{main}/maps").read_text()
        hostname = f"celery@{gpu_worker['Config']['Hostname']}"
        assert _ping(compose_cluster, hostname) == [{hostname: {"ok": "pong"}}]
        os.kill(child, signal.SIGKILL)
    finally:
        code, stderr = finish(process, timeout=600)
    assert code == 0, f"{stderr[-3000:]}\n{compose_cluster.logs()}"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["resumed_from_epoch"] >= 1
    assert metrics["epochs_run"] == len(metrics["history"]) == 30
    # The same main process, a new pool process.
    main_after, children_after = _celery_processes(gpu_worker["Id"])
    assert main_after == main and len(children_after) == 1 and child not in children_after
    logs = run(["docker", "logs", gpu_worker["Id"]], 60)
    assert "signal 9 (SIGKILL)" in logs.stdout + logs.stderr


def _wait_for_epoch(cluster, task_id: str, epoch: int, timeout_s: float) -> None:
    """Until the task's state (in Redis, as the client reads it) says TRAINING at ``epoch``."""
    client = cluster.redis("client")
    seen = [{}]

    def at_the_epoch() -> bool:
        raw = client.get(f"celery-task-meta-{task_id}")
        seen[0] = meta = json.loads(raw) if raw else {}
        return meta.get("status") == "TRAINING" and meta["result"].get("epoch", 0) >= epoch

    try:
        wait_for(at_the_epoch, timeout_s, 0.2, lambda: f"{task_id}: {seen[0]}\n{cluster.logs()}")
    finally:
        client.close()


def _celery_processes(container: str) -> tuple[int, list[int]]:
    """(host pid of the worker's main process, those of its pool processes)."""
    top = run(["docker", "top", container, "-eo", "pid,ppid,args"], 60).stdout.splitlines()
    celery = {}
    for line in top[1:]:
        pid, ppid, args = line.split(None, 2)
        if "celery" in args and "worker" in args and "docker-init" not in args:
            celery[int(pid)] = int(ppid)
    (main,) = [pid for pid, ppid in celery.items() if ppid not in celery]
    return main, [pid for pid, ppid in celery.items() if ppid == main]


def _ping(cluster, hostname: str) -> list:
    """Celery's ``inspect ping`` of one worker, sent as the flower user: inspecting workers is
    Flower's part (shared/redis_acl.py), the client user has no pidbox reply queue."""
    from celery import Celery

    app = Celery("catdog-test-ping", broker=cluster.redis_url("flower"))
    try:
        return app.control.ping(destination=[hostname], timeout=10)
    finally:
        app.close()


def test_a_restarted_redis_keeps_the_shard_cache(compose_cluster, tmp_path):
    import redis

    data_set(compose_cluster, "restart", per_label=20, seed=9)
    first = train(compose_cluster, "restart", tmp_path / "first", "--shard-size", 10)
    assert first["shards"]["reused"] == 0
    # A transaction of the worker user (as Celery acknowledges a task: MULTI, two writes,
    # EXEC), which Redis replays from its append-only file after the restart.
    worker = compose_cluster.redis("worker")
    try:
        with worker.pipeline(transaction=True) as transaction:
            transaction.set("catdog:test:tx-a", "1").set("catdog:test:tx-b", "2").execute()
    finally:
        worker.close()
    compose_cluster.run("restart", "redis", timeout=120)
    _wait_for_redis(compose_cluster, timeout_s=60)
    admin = compose_cluster.redis()
    try:
        assert admin.mget("catdog:test:tx-a", "catdog:test:tx-b") == [b"1", b"2"]
        # Every task done before the restart stays acknowledged: none is delivered again.
        assert admin.zcard("unacked_index") == 0 and admin.hlen("unacked") == 0
        admin.delete("catdog:test:tx-a", "catdog:test:tx-b")
    finally:
        admin.close()
    (redis_container,) = compose_cluster.containers("redis")
    logs = run(["docker", "logs", redis_container["Id"]], 60)
    assert "CRITICAL" not in logs.stdout + logs.stderr
    compose_cluster.wait_until_ready(workers=2)
    second = train(compose_cluster, "restart", tmp_path / "second", "--shard-size", 10)
    assert second["shards"]["reused"] == second["shards"]["count"] == first["shards"]["count"]
    assert second["images_used"] == first["images_used"] == 40

    # The admin user may stop Redis (it saves first); Docker starts it again (restart:
    # unless-stopped) and nothing is lost.
    (before,) = compose_cluster.containers("redis")
    admin = compose_cluster.redis()
    try:
        with pytest.raises(redis.ConnectionError):
            admin.execute_command("SHUTDOWN")
    finally:
        admin.close()
    _wait_for_redis(compose_cluster, timeout_s=60)
    (after,) = compose_cluster.containers("redis")
    assert after["RestartCount"] == before["RestartCount"] + 1
    compose_cluster.wait_until_ready(workers=2)
    third = train(compose_cluster, "restart", tmp_path / "third", "--shard-size", 10)
    assert third["shards"]["reused"] == third["shards"]["count"] == first["shards"]["count"]


def _wait_for_redis(cluster, timeout_s: float) -> None:
    import redis

    def answers() -> bool:
        client = redis.Redis.from_url(cluster.broker_url(), socket_timeout=5)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False  # not back yet
        finally:
            client.close()

    wait_for(answers, timeout_s, 0.5, lambda: f"redis not back:\n{cluster.logs()}")
