"""The shard store of this worker process, connected after the fork."""

from catdog_queue.shared.shards import connect_store

_store = None


def store():
    """One Redis connection pool per worker process, made on first use.

    Prefork children call this after the fork: a connection made in the parent
    and shared by its children would interleave their replies.
    """
    global _store
    if _store is None:
        _store = connect_store()
    return _store
