"""Task and control messages sent by hand to the compose cluster with the client's password.

The same findings as tests/integration/test_hostile_messages.py, in containers under the
compose file's defaults: a message with absurd arguments is refused by the worker, Celery's
remote control cannot stop or reconfigure a worker, a message that killed its processes three
times is dead-lettered, and workers started on a Redis that holds a poison message start
clean. No worker container restarts, and each one keeps consuming its queue.
"""

import pytest
from kombu import Connection

from catdog_queue.client.local_cluster.cluster import client_app
from catdog_queue.shared import dead_letters
from tests.docker.conftest import PROBE

pytestmark = pytest.mark.docker

POISON = {"key": "catdog:shard:" + "d" * 64, "index": 0, "paths": ["x.jpg"], "image_size": 100_000}


def workers(cluster) -> dict:
    """``{container name: (start time, restart count)}`` of the worker containers."""
    return {
        container["Name"]: (container["State"]["StartedAt"], container["RestartCount"])
        for service in ("cpu-worker", "gpu-worker")
        for container in cluster.containers(service)
    }


def running_queues(cluster) -> list[str]:
    """What the running worker containers consume (an earlier test may have killed one)."""
    cpu = len(cluster.containers("cpu-worker"))
    return ["cpu"] * cpu + ["gpu"] * len(cluster.containers("gpu-worker"))


def assert_every_worker_serves(cluster, app, inspector) -> None:
    expected = running_queues(cluster)
    assert consumed_queues(app, inspector, expected) == expected


def consumed_queues(app, inspector, expected: list[str]) -> list[str]:
    names = []
    for _ in range(30):  # a worker that has just started answers once it is ready
        queues = app.control.inspect(timeout=2, connection=inspector).active_queues() or {}
        names = sorted(queue["name"] for entries in queues.values() for queue in entries)
        if names == expected:
            break
    return names


@pytest.fixture
def app(compose_cluster):
    """As the holder of the client password."""
    with client_app({"CELERY_BROKER_URL": compose_cluster.broker_url()}, PROBE) as running:
        yield running


@pytest.fixture
def inspector(compose_cluster):
    """A connection as Flower's user, whose password must not stop workers either: replies
    to control messages need a reply queue, which the client user may not write. (One
    process's Celery apps share one broker URL, from the environment: hence ``connection=``.)"""
    with Connection(compose_cluster.redis_url("flower")) as connection:
        yield connection


def outcome(result, timeout=120):
    result.get(timeout=timeout, propagate=False)
    return result.state, str(result.result)


def test_absurd_arguments_are_refused_and_no_worker_restarts(compose_cluster, app, inspector):
    before = workers(compose_cluster)
    poison = app.send_task("catdog.decode_shard", args=["poison", "/data", POISON], queue="cpu")
    state, error = outcome(poison)
    assert state == "FAILURE" and "received 100000" in error
    repeated = POISON | {"paths": ["cat.0.jpg"] * 400, "image_size": 512}
    train = app.send_task(
        "catdog.train",
        args=["poison", "/data", [repeated], {"labels": ["cat", "dog"], "image_size": 512}],
        queue="gpu",
    )
    state, error = outcome(train)
    assert state == "FAILURE" and "314,572,800 bytes of pixels" in error
    assert workers(compose_cluster) == before
    assert_every_worker_serves(compose_cluster, app, inspector)


def test_remote_control_cannot_stop_or_reconfigure_workers(compose_cluster, app, inspector):
    assert_every_worker_serves(compose_cluster, app, inspector)
    before = workers(compose_cluster)
    for command, arguments in (
        ("shutdown", {}),
        ("cancel_consumer", {"queue": "cpu"}),
        ("pool_restart", {}),
        ("autoscale", {"max": 8, "min": 1}),
    ):
        replies = app.control.broadcast(
            command, arguments=arguments, reply=True, timeout=10, connection=inspector
        )
        assert len(replies) == len(before), replies
        assert all("is refused" in next(iter(r.values()))["error"] for r in replies), replies
    app.control.shutdown()
    assert workers(compose_cluster) == before
    assert_every_worker_serves(compose_cluster, app, inspector)


def test_workers_started_on_a_queue_holding_poison_start_clean(compose_cluster, app, inspector):
    """The message waits while no CPU worker runs; the workers then start, refuse it, and
    stay up; one whose three earlier tries died is dead-lettered unrun."""
    compose_cluster.run("stop", "cpu-worker")
    try:
        poison = app.send_task("catdog.decode_shard", args=["poison", "/data", POISON], queue="cpu")
        buried_id = f"poison-{poison.id}"
        admin = compose_cluster.redis()
        admin.set(dead_letters.starts_key(buried_id), dead_letters.MAX_DEATHS)
        valid = POISON | {"image_size": 8}
        buried = app.send_task(
            "catdog.decode_shard", args=["poison", "/data", valid], queue="cpu", task_id=buried_id
        )
    finally:
        compose_cluster.run("start", "cpu-worker")
    assert outcome(poison)[0] == "FAILURE"
    state, error = outcome(buried)
    assert state == "FAILURE" and "it is not run again" in error
    assert dead_letters.dead_letters_of(admin, [buried_id]) == [buried_id]
    assert dead_letters.drop(admin, [buried_id]) == 1
    assert_every_worker_serves(compose_cluster, app, inspector)
