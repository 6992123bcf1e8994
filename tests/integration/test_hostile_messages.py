"""Task messages sent by hand, as a careless or hostile holder of the client password would.

A standing cluster of its own (the defaults of ``LocalCluster``), so that the
faults here (a pool process's memory limit lowered, messages that fail) touch
no other test. Every test checks that the workers' main processes are the
ones that started, alive, and still serving.
"""

import random
import resource
import time
import uuid

import pytest
from kombu import Connection

from catdog_queue.client.local_cluster import LocalCluster
from catdog_queue.client.local_cluster.cluster import client_app as app_of_environment
from catdog_queue.shared import dead_letters, settings
from tests import message_fuzz
from tests.faults import pool_children
from tests.images import make_separable_images
from tests.integration.conftest import clean_environment, client_app, run_submit
from tests.integration.test_standing_cluster import cluster_command

pytestmark = pytest.mark.integration

SHARD_KEY = "catdog:shard:" + "0" * 64


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile")
    make_separable_images(folder / "data", per_label=12, side=40)
    with LocalCluster(
        folder / "cache", folder / "logs", "hostile", cpu_concurrency=1,
        data_roots=[folder / "data"], standing=True,
    ) as cluster:  # fmt: skip
        cluster.data = folder / "data"
        cluster.main_pids = {role: process.pid for role, process in cluster.processes.items()}
        with client_app(cluster) as app, Connection(cluster.url("flower")) as connection:
            assert_workers_serve(cluster, app, connection)  # ready: pool processes started
        yield cluster


@pytest.fixture(scope="module")
def app(hostile):
    """A client, as the holder of the client password."""
    with client_app(hostile) as running:
        yield running


@pytest.fixture(scope="module")
def inspector(hostile):
    """A connection as Flower's user, for Celery's control messages that want replies: the
    client user may not write a reply queue (``shared.redis_acl``), and this password must
    not stop workers either. One process's Celery apps share one broker URL (from the
    environment), so this goes to ``control`` calls as ``connection=``."""
    with Connection(hostile.url("flower")) as connection:
        yield connection


def assert_workers_serve(cluster, app, connection):
    """The same main processes as at the start, alive, each consuming its queue."""
    for role, pid in cluster.main_pids.items():
        assert cluster.processes[role].pid == pid and cluster.processes[role].poll() is None, role
    consumed = []
    for _ in range(30):  # a worker that has just started answers once it is ready
        queues = app.control.inspect(timeout=2, connection=connection).active_queues() or {}
        consumed = sorted(queue["name"] for entries in queues.values() for queue in entries)
        if consumed == ["cpu", "gpu"]:
            return
    raise AssertionError(f"the workers consume {consumed}, not cpu and gpu")


def decode(app, shard, data_root, task_id=None):
    return app.send_task(
        "catdog.decode_shard", args=["hostile-job", str(data_root), shard], queue="cpu",
        task_id=task_id,
    )  # fmt: skip


def finished(result, timeout=120):
    result.get(timeout=timeout, propagate=False)
    return result.state, str(result.result)


def test_an_image_size_of_100000_is_refused_before_any_allocation(hostile, app, inspector):
    shard = {"key": SHARD_KEY, "index": 0, "paths": ["cat.0.jpg"], "image_size": 100_000}
    state, error = finished(decode(app, shard, hostile.data))
    assert state == "FAILURE"
    assert "image size must be a whole number of pixels from 1 to 512, received 100000" in error
    assert_workers_serve(hostile, app, inspector)


def test_a_shard_past_the_byte_bound_is_refused_and_nothing_is_stored(hostile, app, inspector):
    shard = {"key": SHARD_KEY, "index": 0, "paths": ["cat.0.jpg"] * 400, "image_size": 512}
    state, error = finished(decode(app, shard, hostile.data))
    assert state == "FAILURE"
    assert "400 images of 512 px make 314,572,800 bytes of pixels" in error
    state, error = finished(decode(app, shard | {"paths": ["cat.0.jpg"] * 2}, hostile.data))
    assert state == "FAILURE" and "more than once" in error
    assert not hostile.redis().exists(SHARD_KEY)
    assert_workers_serve(hostile, app, inspector)


def test_pool_processes_run_under_an_address_space_limit(hostile):
    (child,) = pool_children(hostile, "cpu-worker")
    limit = address_space_limit(child)
    mapped = int(open(f"/proc/{child}/statm").read().split()[0]) * resource.getpagesize()
    growth = settings.DEFAULT_POOL_MEMORY_MB * 2**20  # on top of what it mapped at its start
    assert growth < limit <= mapped + growth
    (gpu_child,) = pool_children(hostile, "gpu-worker")
    assert address_space_limit(gpu_child) > 0  # the machine's memory: no NVIDIA device here


def address_space_limit(pid: int) -> int:
    """The process's RLIMIT_AS, once its start-up (``worker_process_init``) has set it."""
    for _ in range(100):
        soft, _ = resource.prlimit(pid, resource.RLIMIT_AS)
        if soft != resource.RLIM_INFINITY:
            return soft
        time.sleep(0.1)
    raise AssertionError(f"pool process {pid} runs without an address-space limit")


def test_a_memory_error_fails_its_task_and_the_worker_goes_on(hostile, app, inspector):
    """The fault: the pool process's limit lowered to what it holds, so a shard's 60 MB
    allocation fails. Celery would re-raise that MemoryError in the worker's main
    process, which would exit; here the task fails and the worker serves on."""
    (child,) = pool_children(hostile, "cpu-worker")
    size_kib = int(open(f"/proc/{child}/status").read().split("VmSize:")[1].split()[0])
    saved = resource.prlimit(child, resource.RLIMIT_AS)
    resource.prlimit(child, resource.RLIMIT_AS, ((size_kib + 16 * 1024) * 1024, saved[1]))
    try:
        paths = [f"cat.{n}.jpg" for n in range(80)]  # 80 x 512 x 512 x 3 = 62.9 MB
        shard = {"key": SHARD_KEY, "index": 0, "paths": paths, "image_size": 512}
        state, error = finished(decode(app, shard, hostile.data))
    finally:
        resource.prlimit(child, resource.RLIMIT_AS, saved)
    assert state == "FAILURE"
    assert "ran out of memory" in error and "the worker goes on" in error
    assert pool_children(hostile, "cpu-worker") == [child]  # not even the pool process died
    assert_workers_serve(hostile, app, inspector)


REFUSED_COMMANDS = [
    ("shutdown", {}),
    ("cancel_consumer", {"queue": "cpu"}),
    ("add_consumer", {"queue": "elsewhere"}),
    ("pool_restart", {}),
    ("autoscale", {"max": 10, "min": 1}),
    ("pool_shrink", {"n": 1}),
    ("rate_limit", {"task_name": "catdog.train", "rate_limit": "1/h"}),
    ("time_limit", {"task_name": "catdog.train", "hard": 1}),
    ("disable_events", {}),
]


@pytest.mark.parametrize("command, arguments", REFUSED_COMMANDS)
def test_remote_control_that_changes_workers_is_refused(
    hostile, app, inspector, command, arguments
):
    replies = app.control.broadcast(
        command, arguments=arguments, reply=True, timeout=5, connection=inspector
    )
    assert len(replies) == 2, replies  # both workers answered
    for reply in replies:
        (answer,) = reply.values()
        assert "is refused by this cluster's workers" in answer["error"], answer
    assert_workers_serve(hostile, app, inspector)


def test_the_client_api_shutdown_stops_nothing(hostile, app, inspector):
    app.control.shutdown()  # as a user would type it: no reply asked for
    app.control.cancel_consumer("gpu")
    assert_workers_serve(hostile, app, inspector)


def test_celerys_chord_unlock_is_not_served(hostile, app, inspector):
    """Celery's chord_unlock retries without end while its group is unfinished: a forged
    one would come back forever. Chords here are Redis's own (no unlock task), so the
    workers do not register it, and such a message fails once."""
    arguments = ["no-such-group", [["no-such-task", None]]]
    unlock = app.send_task("celery.chord_unlock", args=arguments, queue="gpu")
    assert finished(unlock)[0] == "FAILURE"
    assert type(unlock.result).__name__ == "NotRegistered", repr(unlock.result)
    assert_workers_serve(hostile, app, inspector)


def test_revoke_only_for_cancelled_jobs_and_never_terminate(hostile, app, inspector):
    other = "20261203-101010-abcdef-decode-0"
    (reply,) = app.control.revoke(other, reply=True, timeout=5, connection=inspector)[:1]
    assert "not a task of a cancelled job" in next(iter(reply.values()))["error"]
    (reply,) = app.control.revoke(
        other, terminate=True, reply=True, timeout=5, connection=inspector
    )[:1]
    assert "terminate is refused" in next(iter(reply.values()))["error"]
    hostile.redis().set("catdog:job:20261203-101010-abcdef:cancel", "1", ex=60)
    replies = app.control.revoke(other, reply=True, timeout=5, connection=inspector)
    assert all("flagged as revoked" in next(iter(r.values()))["ok"] for r in replies), replies


def test_a_message_whose_processes_died_three_times_is_dead_lettered(hostile, app, inspector):
    """Three earlier tries that never ended (their counts stand, as a killed process
    leaves them): the fourth start buries the message instead of running it."""
    task_id = f"hostile-{uuid.uuid4().hex}"
    store = hostile.redis()
    store.set(dead_letters.starts_key(task_id), dead_letters.MAX_DEATHS)
    shard = {"key": SHARD_KEY, "index": 0, "paths": ["cat.0.jpg"], "image_size": 8}
    state, error = finished(decode(app, shard, hostile.data, task_id=task_id))
    assert state == "FAILURE" and "it is not run again" in error
    assert not store.exists(SHARD_KEY)  # the body never ran
    (entry,) = [e for e in dead_letters.dead_letters(store) if e["task_id"] == task_id]
    assert entry["task"] == "catdog.decode_shard" and "died 3 times" in entry["reason"]

    environment = clean_environment() | hostile.environment()
    listed = run_submit(["deadletters", "--broker", hostile.url("client")], environment)
    assert listed.returncode == 0, listed.stderr
    assert task_id in listed.stdout and "died 3 times" in listed.stdout
    # Sent again under the same id: refused unread, while it is in the list.
    hostile.redis(hostile.redis_server.db).delete(
        f"celery-task-meta-{task_id}"
    )  # the first outcome
    state, error = finished(decode(app, shard, hostile.data, task_id=task_id))
    assert state == "FAILURE" and "is in the dead-letter list" in error
    dropped = run_submit(
        ["deadletters", "--drop", task_id, "--broker", hostile.url("admin")], environment
    )
    assert dropped.returncode == 0 and "dropped 1" in dropped.stdout, dropped.stderr
    assert not dead_letters.dead_letters_of(store, [task_id])
    assert_workers_serve(hostile, app, inspector)


FUZZ_MESSAGES = 600


def test_fuzzed_messages_are_each_answered_and_no_worker_dies(hostile, app, inspector, tmp_path):
    """Random and mutated arguments for every registered task name, both queues; then a
    normal job. Every message ends (success, failure or dead letter), no main process
    of a worker exits, and the job succeeds."""
    rng = random.Random(20261203)
    bases = message_fuzz.base_arguments(str(hostile.data), str(tmp_path / "no-root"))
    registered = app.control.inspect(timeout=5, connection=inspector).registered() or {}
    names = sorted({name for names in registered.values() for name in names})
    assert set(bases) <= set(names), names
    sent = []
    for number in range(FUZZ_MESSAGES):
        if number % 10 == 9:  # Celery's own tasks, and names no worker has
            name = rng.choice([n for n in names if n not in bases] + ["os.system", "catdog.x"])
            queue, arguments = rng.choice(["cpu", "gpu"]), message_fuzz.random_json(rng)
            arguments = arguments if isinstance(arguments, list) else [arguments]
        else:
            name = rng.choice(sorted(bases))
            queue, arguments = bases[name]
            arguments = message_fuzz.mutated(arguments, rng)
        sent.append(app.send_task(name, args=arguments, queue=queue))
    states = {}
    for result in sent:
        states[result.id] = finished(result, timeout=300)[0]
    buried = set(dead_letters.dead_letters_of(hostile.redis(), list(states)))
    counts = {state: list(states.values()).count(state) for state in set(states.values())}
    print(f"fuzz: {len(sent)} messages sent; outcomes {counts}; {len(buried)} dead-lettered")
    assert set(states.values()) <= {"SUCCESS", "FAILURE"}, counts
    assert counts.get("FAILURE", 0) > FUZZ_MESSAGES // 2  # most were refused
    assert_workers_serve(hostile, app, inspector)
    out = tmp_path / "out"
    arguments = ["train", "--data", hostile.data, "--epochs", 1, "--image-size", 8]
    environment = clean_environment() | hostile.environment()
    job = run_submit([*arguments, "--out", out, "--broker", hostile.url("client")], environment)
    assert job.returncode == 0, job.stderr
    assert (out / "model.keras").exists()
    assert_workers_serve(hostile, app, inspector)


def test_the_standing_cluster_starts_clean_on_a_cache_folder_holding_a_poison_message(
    tmp_path,
):
    """The message that once stopped every ``submit.py cluster`` started on its folder."""
    poisoned = LocalCluster(tmp_path / "cache", tmp_path / "logs", "poisoner", standing=True)
    poisoned.start_redis()  # Redis alone: the message waits in the queue
    try:
        with client_app(poisoned) as app:
            shard = {"key": SHARD_KEY, "index": 0, "paths": ["cat.0.jpg"], "image_size": 100_000}
            poison = decode(app, shard, tmp_path).id
    finally:
        poisoned.stop()
    with cluster_command(tmp_path) as (broker, data_root, process):
        with app_of_environment({"CELERY_BROKER_URL": broker}) as app:
            state, error = finished(app.AsyncResult(poison))
        assert state == "FAILURE" and "received 100000" in error
        make_separable_images(data_root / "images", per_label=12, side=40)
        arguments = ["train", "--data", data_root / "images", "--epochs", 1, "--image-size", 8]
        job = run_submit([*arguments, "--out", tmp_path / "out", "--broker", broker])
        assert job.returncode == 0, job.stderr
        assert process.poll() is None
