"""The lines of a Sentinel group's config files: one source for the local cluster and compose.

Failover timing, chosen so that a job moves again within 30 s of the
master's death:

- ``down-after-milliseconds`` 5000: a master silent this long is down. Far
  above a loopback or LAN round trip or an append-only file's fsync, so a
  busy master is not deposed; a kill is noticed within 5 s.
- quorum 2 of 3: one sentinel alone cannot depose a master, any two can;
  the sentinels then agree and promote a replica within a second or two.
- ``failover-timeout`` 10000: a failover that stalled is tried again after
  twice this, 20 s, instead of Redis's default 6 minutes.
- clients retry with pauses growing to 5 s (``shared/redis_client.py``,
  kombu's reconnection), each try asking the sentinels for the master.

So about 5 + 2 + 5 s in the usual case.
"""

from catdog_queue.shared import redis_acl

SENTINELS = 3
QUORUM = 2
DOWN_AFTER_MS = 5000
FAILOVER_TIMEOUT_MS = 10_000
# What a client user may ask a sentinel: where the master and the replicas
# are. Not SENTINEL SET, REMOVE, MONITOR or FAILOVER: those stay with admin.
SENTINEL_CLIENT_RULES = (
    "-@all +ping +auth +hello +sentinel|masters +sentinel|master +sentinel|slaves"
    " +sentinel|replicas +sentinel|sentinels +sentinel|get-master-addr-by-name"
)


def replication_lines(admin_password: str) -> list[str]:
    """For every data server: a replica (or a deposed master) follows its master as admin."""
    return [
        "masteruser admin",
        f"masterauth {admin_password}",
        "replica-read-only yes",
        # The master streams its data to a new replica without a file on disk.
        "repl-diskless-sync yes",
        "repl-diskless-sync-delay 0",
    ]


def write_guard_lines(replicas: int) -> list[str]:
    """With two replicas or more, a master that no replica follows refuses writes.

    A master cut off from the others (stopped, partitioned) and replaced
    takes writes from the clients still connected to it until the sentinels
    turn it into a replica, about 10 s after it comes back, and then drops
    them. Refusing writes without a replica closes that gap; with a single
    replica it would also stop the new master until the old one rejoins, so
    one replica keeps the gap (README: what a failover can lose).
    """
    if replicas < 2:
        return []
    return ["min-replicas-to-write 1", "min-replicas-max-lag 10"]


def sentinel_lines(name: str, master_host: str, master_port: int, passwords: dict) -> list[str]:
    """A sentinel's monitoring, timing and users (its port, folder and log are the caller's)."""
    admin = passwords["admin"]
    lines = [
        f"sentinel monitor {name} {master_host} {master_port} {QUORUM}",
        f"sentinel down-after-milliseconds {name} {DOWN_AFTER_MS}",
        f"sentinel failover-timeout {name} {FAILOVER_TIMEOUT_MS}",
        f"sentinel parallel-syncs {name} 1",
        # The sentinels watch and reconfigure the servers as admin, and log in
        # to each other as admin too.
        f"sentinel auth-user {name} admin",
        f"sentinel auth-pass {name} {admin}",
        "sentinel sentinel-user admin",
        f"sentinel sentinel-pass {admin}",
        "user default off",
        f"user admin on >{admin} ~* &* +@all",
    ]
    for role in redis_acl.ROLES:
        if role != "admin":
            lines.append(f"user {role} on >{passwords[role]} {SENTINEL_CLIENT_RULES}")
    return lines
