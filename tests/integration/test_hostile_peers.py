"""What a holder of the cluster's password can and cannot do.

They can send tasks and write keys. They cannot turn Redis into a shell (no
``CONFIG SET dir`` + ``SAVE``, no ``MODULE LOAD``, no ``REPLICAOF``), and a
result they forge cannot make a client write a file outside its output folder.
"""

import json

import pytest
import redis

from catdog_queue.client.local_cluster import REPOSITORY_ROOT
from catdog_queue.client.session import new_job_id
from catdog_queue.jobs import kinds
from catdog_queue.jobs.records import JobRecord, record_key
from catdog_queue.shared.shard_builder import mark_cached
from catdog_queue.shared.shards import connect_store
from tests.images import make_separable_images
from tests.integration.conftest import clean_environment, run_submit

pytestmark = pytest.mark.integration

REFUSED = [
    ("CONFIG", "SET", "dir", "/tmp"),
    ("CONFIG", "GET", "requirepass"),
    ("SAVE",),
    ("BGSAVE",),
    ("BGREWRITEAOF",),
    ("FLUSHALL",),
    ("FLUSHDB",),
    ("SHUTDOWN", "NOSAVE"),
    ("DEBUG", "SLEEP", "0"),
    ("MODULE", "LIST"),
    ("REPLICAOF", "127.0.0.1", "1"),
    ("MIGRATE", "127.0.0.1", "1", "k", "0", "1"),
    ("KEYS", "*"),
    ("ACL", "LIST"),
    ("MONITOR",),
]


# A key each user may write (shared/redis_acl.py; the rest: tests/integration/test_redis_acl.py).
WRITABLE = {
    "worker": "catdog:test:worker",
    "client": "catdog:job:acl-probe:cancel",
    "flower": "celeryev.acl-probe",
}


@pytest.mark.parametrize("role", ["worker", "client", "flower"])
def test_the_cluster_users_cannot_administer_redis(cluster, role):
    connection = redis.Redis.from_url(cluster.url(role))
    assert connection.ping()
    assert connection.set(WRITABLE[role], "1")  # they can use it, as tasks must
    for command in REFUSED:
        with pytest.raises(redis.exceptions.NoPermissionError):
            connection.execute_command(*command)
    assert cluster.redis().config_get("dir")["dir"] == str(cluster.cache_dir)


def test_the_default_user_is_off(cluster):
    anonymous = redis.Redis(host="127.0.0.1", port=cluster.port)
    with pytest.raises(redis.exceptions.AuthenticationError):
        anonymous.ping()


def test_a_forged_result_naming_a_path_outside_is_refused(cluster, cluster_app, tmp_path):
    make_separable_images(tmp_path / "data", per_label=10)
    out = tmp_path / "inner" / "run"
    arguments = ["train", "--data", tmp_path / "data", "--epochs", 1, "--image-size", 8]
    environment = clean_environment() | cluster.environment()
    first = run_submit([*arguments, "--out", out], environment)
    assert first.returncode == 0, first.stderr
    job_id = json.loads((out / "metrics.json").read_text())["job_id"]

    # Whoever holds a password rewrites the finished task's result in Redis: here the
    # client's, on the embedded Redis 6.2 (Redis 7 refuses it that: test_redis_acl.py).
    forged = cluster_app.AsyncResult(f"{job_id}-train").result
    forged["artifacts"]["../escaped.txt"] = forged["artifacts"].pop("model.h5")
    cluster_app.backend.forget(f"{job_id}-train")  # Celery would keep the first success
    cluster_app.backend.store_result(f"{job_id}-train", forged, "SUCCESS")

    fetched = run_submit(["fetch", job_id, "--out", out], environment)
    assert fetched.returncode == 1
    last_line = fetched.stderr.strip().splitlines()[-1]
    assert last_line.startswith("error: the train task's result names files"), fetched.stderr
    assert not (tmp_path / "inner" / "escaped.txt").exists()
    assert not list(tmp_path.rglob("escaped.txt"))


@pytest.fixture(scope="module")
def finished_job(cluster, tmp_path_factory) -> str:
    """A train job run to its end once: its record, result and models to forge from."""
    folder = tmp_path_factory.mktemp("finished")
    make_separable_images(folder / "data", per_label=10)
    arguments = ["train", "--data", folder / "data", "--epochs", 1, "--image-size", 8]
    process = run_submit([*arguments, "--out", folder / "out"], cluster_environment(cluster))
    assert process.returncode == 0, process.stderr
    return json.loads((folder / "out" / "metrics.json").read_text())["job_id"]


def cluster_environment(cluster) -> dict:
    return clean_environment() | cluster.environment()


def forge_job(cluster, cluster_app, finished_job, named=None, **changes) -> str:
    """A record under a new id, built from a finished job's, naming itself ``named``.

    The tasks it names are stored as succeeded with the finished job's
    models copied under the keys of its own id, so a client that trusts the
    record collects it. Returns the id the record is stored under, which a
    user would type.
    """
    store = connect_store(cluster.store_url("client"))
    asked = new_job_id()
    record = json.loads(store.redis.get(record_key(finished_job)))
    mark_cached(store, record["parts"][0]["shards"])  # no decode task to wait for
    record |= {"job_id": named or asked, **changes}
    forged = JobRecord(record["job_id"], record["kind"], [], runs=record["runs"])
    result = cluster_app.AsyncResult(f"{finished_job}-train").result
    for state_id, task_id in zip(kinds.state_ids(forged), kinds.followed_tasks(forged).values()):
        artifacts = {
            name: store.put_artifact(state_id, name, store.get_artifact(key))
            for name, key in result["artifacts"].items()
        }
        cluster_app.backend.store_result(task_id, result | {"artifacts": artifacts}, "SUCCESS")
    store.redis.set(record_key(asked), json.dumps(record), ex=3600)
    return asked


def assert_refused(process, *words) -> None:
    assert process.returncode == 1, process.stdout + process.stderr
    last_line = process.stderr.strip().splitlines()[-1]
    assert last_line.startswith("error: "), process.stderr
    assert "Traceback" not in process.stderr
    for word in words:
        assert word in last_line, last_line


def test_a_forged_compare_run_name_leaving_the_output_folder_is_refused(
    cluster, cluster_app, finished_job, tmp_path
):
    store = connect_store(cluster.store_url("client"))
    options = json.loads(store.redis.get(record_key(finished_job)))["options"]
    runs = [{"name": "../../escaped", "options": options}]
    asked = forge_job(cluster, cluster_app, finished_job, kind="compare", options=None, runs=runs)
    out = tmp_path / "inner" / "deeper" / "out"
    fetched = run_submit(["fetch", asked, "--out", out], cluster_environment(cluster))
    assert_refused(fetched, "runs[0].name", "../../escaped")
    escaped = tmp_path / "inner" / "escaped"  # out/../../escaped
    for name in ("model.keras", "model.h5", "metrics.json", "history.png"):
        assert not (escaped / name).exists()
    assert not list(tmp_path.rglob("escaped"))
    assert not out.exists() or not list(out.rglob("*"))


@pytest.mark.parametrize("with_out", [False, True])
def test_a_forged_train_record_naming_an_absolute_path_is_refused(
    cluster, cluster_app, finished_job, tmp_path, with_out
):
    target = tmp_path / "target"
    asked = forge_job(cluster, cluster_app, finished_job, named=str(target))
    arguments = ["fetch", asked] + (["--out", tmp_path / "out"] if with_out else [])
    fetched = run_submit(arguments, cluster_environment(cluster))
    assert_refused(fetched, "job_id", str(target)[:40])
    assert not target.exists() and not list(tmp_path.rglob("model.keras"))
    assert not (REPOSITORY_ROOT / "runs" / asked).exists()


def test_a_record_of_another_job_is_refused(cluster, cluster_app, finished_job, tmp_path):
    store = connect_store(cluster.store_url("client"))
    asked = new_job_id()
    store.redis.set(record_key(asked), store.redis.get(record_key(finished_job)), ex=3600)
    fetched = run_submit(["fetch", asked, "--out", tmp_path / "out"], cluster_environment(cluster))
    assert_refused(fetched, "job_id", finished_job)
    assert not (tmp_path / "out" / "model.keras").exists()
