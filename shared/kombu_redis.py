"""What this project reads and does inside kombu's Redis transport, in one place.

Celery keeps its messages in Redis the way kombu's Redis transport lays them
out, and some of that is not public API: the watchdog (workers/heartbeat.py)
re-queues a dead worker's unacknowledged messages with the transport's own
``QoS.restore_by_tag`` and forgets one with ``QoS._remove_from_indices``, and
the client (client/queue_watch.py) reads the queues to count what is ahead.

Everything here was written for ``KOMBU_VERSION``; tests/unit/test_kombu_redis.py
fails on any other, so an upgrade is a decision to re-read kombu/transport/redis.py,
not a re-queueing that silently stops working.
"""

import json

KOMBU_VERSION = "5.7.0"
# The transport's private names this module relies on (kombu/transport/redis.py).
QOS_METHODS = ("restore_by_tag", "_remove_from_indices")
CHANNEL_KEYS = {"unacked_key": "unacked", "unacked_index_key": "unacked_index"}


def unacknowledged(channel) -> list[tuple[str, float]]:
    """``[(delivery tag, time delivered)]`` of every message a worker took and holds unacked."""
    index = channel.client.zrange(channel.unacked_index_key, 0, -1, withscores=True)
    return [(_text(tag), delivered_at) for tag, delivered_at in index]


def unacknowledged_message(channel, tag: str) -> bytes | None:
    """The stored unacked message, ``[message, exchange, routing key]`` as JSON; None if gone."""
    return channel.client.hget(channel.unacked_key, tag)


def restore(channel, tag: str) -> None:
    """Put an unacked message back at the end of its queue, atomically (kombu's own way)."""
    channel.qos.restore_by_tag(tag, channel.client)


def forget(channel, tag: str) -> None:
    """Drop an unacked message for good: it is neither re-delivered nor restored."""
    channel.qos._remove_from_indices(tag).execute()


def unacknowledged_headers(stored: bytes) -> dict:
    """The Celery headers (``id``, ``task``, ``argsrepr``...) of a stored unacked message."""
    try:
        headers = json.loads(stored)[0]["headers"]
    except (ValueError, KeyError, IndexError, TypeError):
        return {}
    return headers if isinstance(headers, dict) else {}


def queued_task_id(raw: bytes) -> str | None:
    """The task id of a message waiting in a queue list (a bare kombu message)."""
    try:
        task_id = json.loads(raw)["headers"]["id"]
    except (ValueError, KeyError, TypeError):
        return None
    return task_id if isinstance(task_id, str) else None


def next_in_queue(client, queue: str, limit: int) -> list[bytes]:
    """Up to ``limit`` raw messages of ``queue``, the one a worker takes next first.

    kombu pushes new messages on the left (LPUSH) and workers pop from the right.
    """
    return list(reversed(client.lrange(queue, -limit, -1)))


def _text(tag) -> str:
    return tag.decode() if isinstance(tag, bytes) else tag
