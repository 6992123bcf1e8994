"""The embedded local cluster: a private Redis server and workers on this machine."""

from client.local_cluster.cluster import (
    REPOSITORY_ROOT,
    ClusterError,
    LocalCluster,
    find_redis_server,
    free_loopback_port,
)

__all__ = [
    "REPOSITORY_ROOT",
    "ClusterError",
    "LocalCluster",
    "find_redis_server",
    "free_loopback_port",
]
