"""The embedded local cluster: the cache folder's Redis, workers and Flower on this machine.

``processes`` starts children that never outlive the client, ``redis_server``
and ``keeper`` run the Redis that a cache folder's runs share, ``cluster``
puts them together.
"""

from catdog_queue.client.local_cluster.cluster import (
    LocalCluster,
    find_redis_server,
    free_loopback_port,
)
from catdog_queue.client.local_cluster.processes import REPOSITORY_ROOT, ClusterError

__all__ = [
    "REPOSITORY_ROOT",
    "ClusterError",
    "LocalCluster",
    "find_redis_server",
    "free_loopback_port",
]
