"""The Redis users of a cluster, each with only the commands the project needs.

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

``python -m shared.redis_acl FILE`` writes these lines for the passwords in
``CATDOG_REDIS_{ADMIN,WORKER,CLIENT,FLOWER}_PASSWORD`` (for the compose file).
"""

import os
import secrets
import sys

ROLES = ("admin", "worker", "client", "flower")
# The default user is off: no connection can act as it, every one logs in as a
# user with a password. It keeps every permission all the same, because Redis
# replays the append-only file as the default user, and Redis 7 checks that
# user's permissions at each EXEC: with none, it drops every MULTI/EXEC of the
# file (Celery's acknowledgements and results, shard and job writes) when it
# restarts (redis/redis#14541, fixed by #14545; Debian 12's 7.0.15 has it).
DEFAULT_USER = "user default off ~* &* +@all"
# What every role but admin may run: everything else than administration and
# the commands Redis itself classes as dangerous.
LIMITED_RULES = "~* &* +@all -@admin -@dangerous"


def new_passwords() -> dict[str, str]:
    return {role: secrets.token_hex(16) for role in ROLES}


def acl_lines(passwords: dict[str, str]) -> list[str]:
    """``user`` lines for a redis.conf (Redis 6.2 and later)."""
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
        rules = "~* &* +@all" if role == "admin" else LIMITED_RULES
        lines.append(f"user {role} on >{passwords[role]} {rules}")
    return lines


def redis_url(role: str, password: str, host: str, port: int, db: int = 0) -> str:
    return f"redis://{role}:{password}@{host}:{port}/{db}"


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m shared.redis_acl CONFIG_FILE", file=sys.stderr)
        return 2
    passwords = {role: os.environ.get(f"CATDOG_REDIS_{role.upper()}_PASSWORD") for role in ROLES}
    try:
        lines = acl_lines(passwords)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    descriptor = os.open(argv[0], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as config:
        config.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
