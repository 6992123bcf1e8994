"""shared/kombu_redis.py against a real Redis and kombu's own transport: what it reads of a
Celery message, held unacknowledged or queued, and that restore and forget do what they say."""

import time

import pytest
import redis
from celery import Celery

from catdog_queue.shared import kombu_redis, task_names
from tests.plain_redis import plain_redis_server

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def redis_port(tmp_path_factory):
    with plain_redis_server(tmp_path_factory.mktemp("kombu")) as port:
        yield port


@pytest.fixture
def app(redis_port, monkeypatch):
    # Celery takes the broker from the environment over its argument: name none there.
    for variable in ("CELERY_BROKER_URL", "CELERY_RESULT_BACKEND"):
        monkeypatch.delenv(variable, raising=False)
    app = Celery("kombu-test", broker=f"redis://127.0.0.1:{redis_port}/3")
    app.conf.task_routes = {name: {"queue": q} for name, q in task_names.QUEUE_OF.items()}
    yield app
    redis.Redis(port=redis_port, db=3).flushdb()


def queued(app, redis_port) -> list[str]:
    client = redis.Redis(port=redis_port, db=3)
    return [kombu_redis.queued_task_id(raw) for raw in kombu_redis.next_in_queue(client, "cpu", 10)]


def test_queued_messages_are_read_in_the_order_workers_take_them(app, redis_port):
    for task_id in ("first", "second", "third"):
        app.send_task(task_names.DECODE_SHARD, args=("job-1", "/data", {}), task_id=task_id)
    assert queued(app, redis_port) == ["first", "second", "third"]
    with app.connection_for_write() as connection:
        taken = connection.default_channel.basic_get("cpu", no_ack=True)
    assert taken.headers["id"] == "first"  # the worker took the one next_in_queue put first


def test_a_held_message_is_read_restored_and_forgotten(app, redis_port):
    for task_id in ("first", "second"):
        app.send_task(task_names.DECODE_SHARD, args=("job-1", "/data", {}), task_id=task_id)
    with app.connection_for_write() as connection:
        channel = connection.default_channel
        before = time.time()
        channel.basic_get("cpu", no_ack=False)  # as a worker takes one: held, unacknowledged
        [(tag, delivered_at)] = kombu_redis.unacknowledged(channel)
        assert before <= delivered_at <= time.time()  # the delivery's own stamp, not another's
        headers = kombu_redis.unacknowledged_headers(
            kombu_redis.unacknowledged_message(channel, tag)
        )
        assert (headers["id"], headers["task"]) == ("first", task_names.DECODE_SHARD)
        assert queued(app, redis_port) == ["second"]

        kombu_redis.restore(channel, tag)  # what the watchdog does for a dead worker
        assert kombu_redis.unacknowledged(channel) == []
        assert queued(app, redis_port) == ["first", "second"]  # next in line again

        channel.basic_get("cpu", no_ack=False)
        [(tag, _)] = kombu_redis.unacknowledged(channel)
        kombu_redis.forget(channel, tag)  # what the watchdog does after MAX_RESTORES
        assert kombu_redis.unacknowledged(channel) == []
        assert kombu_redis.unacknowledged_message(channel, tag) is None
        assert queued(app, redis_port) == ["second"]
