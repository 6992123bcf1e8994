"""Messages that killed their worker three times: set aside, never delivered again.

A task's process can die under it (out of memory, a crash in a library, a
kill). Celery then tries it again, and a whole worker that died hands its
messages back to the queue, so one poisonous message could take down every
worker that picks it up, forever. Each try is counted in Redis when it starts
and uncounted when it ends, whatever the outcome: a count left standing is a
try whose process died. The fourth start of a message with three such deaths
(or the end of Celery's own retries, or of the watchdog's re-queueing) moves
it to the dead-letter hash with its reason: it fails at once, is
acknowledged, and shows in ``submit.py status``, ``jobs`` and ``deadletters``,
where an operator lists and drops it.
"""

import json
import time

DEAD_LETTERS_KEY = "catdog:deadletters"  # hash: task id -> JSON entry
MAX_DEATHS = 3
STARTS_TTL_S = 7 * 86400  # longer than any job waits to be resumed
_PREVIEW_CHARACTERS = 300


class DeadLettered(RuntimeError):
    """The task's message is in the dead-letter list; it is not run again."""


def starts_key(task_id: str) -> str:
    return f"catdog:starts:{task_id}"


def note_start(redis_client, task_id: str) -> int:
    """Count a try that starts; returns how many earlier tries never ended."""
    pipeline = redis_client.pipeline(transaction=True)
    pipeline.incr(starts_key(task_id))
    pipeline.expire(starts_key(task_id), STARTS_TTL_S)
    count, _ = pipeline.execute()
    return int(count) - 1


def note_end(redis_client, task_ids) -> None:
    """Tries that ended (or were stopped on purpose, by a shutdown): none of them died."""
    task_ids = list(task_ids)
    if task_ids:
        redis_client.delete(*(starts_key(task_id) for task_id in task_ids))


def bury(redis_client, task_id: str, task_name: str, args, reason: str) -> dict:
    """Put the message in the dead-letter list; returns its entry."""
    entry = {
        "task_id": task_id,
        "task": str(task_name)[:100],
        "job": str(args[0])[:128] if isinstance(args, list | tuple) and args else "-",
        "reason": reason[:1000],
        "arguments": json.dumps(args, default=repr)[:_PREVIEW_CHARACTERS],
        "at": time.time(),
    }
    redis_client.hset(DEAD_LETTERS_KEY, task_id, json.dumps(entry))
    return entry


def is_buried(redis_client, task_id: str) -> bool:
    return bool(redis_client.hexists(DEAD_LETTERS_KEY, task_id))


def _shown(value, limit: int) -> str:
    """Printable text only: an entry may be forged, and a terminal obeys escape codes."""
    return "".join(c if c.isprintable() else "?" for c in str(value)[:limit])


def dead_letters(redis_client) -> list[dict]:
    """Every entry, oldest first; an entry that is not ours is shown as such, not trusted."""
    entries = []
    for task_id, text in redis_client.hgetall(DEAD_LETTERS_KEY).items():
        task_id = task_id.decode("utf-8", "replace")
        try:
            entry = json.loads(text)
            if not isinstance(entry, dict):
                raise ValueError
        except ValueError:
            entry = {"reason": "(an entry that is not a dead letter of this project)"}
        entries.append(
            {
                "task_id": task_id,
                "task": _shown(entry.get("task", "?"), 100),
                "job": _shown(entry.get("job", "-"), 128),
                "reason": _shown(entry.get("reason", "?"), 1000),
                "arguments": _shown(entry.get("arguments", ""), _PREVIEW_CHARACTERS),
                "at": entry.get("at") if isinstance(entry.get("at"), int | float) else 0.0,
            }
        )
    return sorted(entries, key=lambda entry: entry["at"])


def dead_letters_of(redis_client, task_ids: list[str]) -> list[str]:
    """The ids among ``task_ids`` that are dead letters."""
    if not task_ids:
        return []
    found = redis_client.hmget(DEAD_LETTERS_KEY, task_ids)
    return [task_id for task_id, entry in zip(task_ids, found) if entry is not None]


def drop(redis_client, task_ids) -> int:
    """Forget these dead letters (and their death counts); returns how many there were."""
    task_ids = list(task_ids)
    if not task_ids:
        return 0
    dropped = redis_client.hdel(DEAD_LETTERS_KEY, *task_ids)
    note_end(redis_client, task_ids)
    return int(dropped)
