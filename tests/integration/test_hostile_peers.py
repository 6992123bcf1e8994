"""What a holder of the cluster's password can and cannot do.

They can send tasks and write keys. They cannot turn Redis into a shell (no
``CONFIG SET dir`` + ``SAVE``, no ``MODULE LOAD``, no ``REPLICAOF``), and a
result they forge cannot make a client write a file outside its output folder.
"""

import json

import pytest
import redis

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
