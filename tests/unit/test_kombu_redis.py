"""shared/kombu_redis.py was written for one kombu: an upgrade fails here, loudly, first.

Re-queueing a dead worker's tasks (workers/heartbeat.py) leans on kombu's Redis
transport internals. Should kombu change them, the watchdog would stop working
with no error of its own; so any other version is a failure that says what to re-read.
Its behaviour on a real Redis is tested in tests/integration/test_kombu_redis.py.
"""

import inspect
import json
from pathlib import Path

import kombu
from kombu.transport import redis as redis_transport

from catdog_queue.shared import kombu_redis


def test_kombu_is_the_version_the_module_was_written_for():
    assert kombu.__version__ == kombu_redis.KOMBU_VERSION, (
        f"kombu {kombu.__version__} is installed, shared/kombu_redis.py was written for"
        f" {kombu_redis.KOMBU_VERSION}: re-read kombu/transport/redis.py (QoS.restore_by_tag,"
        " QoS._remove_from_indices, the unacked keys, LPUSH/BRPOP order), run"
        " tests/integration/test_kombu_redis.py, then update KOMBU_VERSION"
    )


def test_requirements_pin_that_kombu():
    requirements = (Path(__file__).resolve().parents[2] / "requirements.txt").read_text()
    assert f"kombu=={kombu_redis.KOMBU_VERSION}\n" in requirements


def test_the_transport_internals_it_calls_are_there():
    for method in kombu_redis.QOS_METHODS:
        assert callable(getattr(redis_transport.QoS, method)), method
    assert list(inspect.signature(redis_transport.QoS.restore_by_tag).parameters)[:3] == [
        "self",
        "tag",
        "client",
    ]
    for attribute, key in kombu_redis.CHANNEL_KEYS.items():
        assert getattr(redis_transport.Channel, attribute) == key


def test_headers_of_a_stored_unacknowledged_message():
    stored = json.dumps([{"headers": {"id": "t-1", "task": "catdog.train"}}, "", "gpu"])
    assert kombu_redis.unacknowledged_headers(stored) == {"id": "t-1", "task": "catdog.train"}
    for broken in ("not json", "[]", '[{"headers": 3}]', "{}", "null"):
        assert kombu_redis.unacknowledged_headers(broken) == {}, broken


def test_task_id_of_a_queued_message():
    assert kombu_redis.queued_task_id(json.dumps({"headers": {"id": "t-2"}})) == "t-2"
    for broken in ("not json", "[]", '{"headers": {}}', '{"headers": {"id": 7}}'):
        assert kombu_redis.queued_task_id(broken) is None, broken
