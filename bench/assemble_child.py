"""The gpu worker's fetch-and-assemble, alone in a process whose memory is watched.

``python -m bench.assemble_child PLAN.json`` (``CATDOG_STORE_URL`` pointing at
the cluster's Redis) runs ``workers.assembly.assemble_shards``, the very code
of the ``catdog.train`` and ``catdog.predict`` tasks, with a stand-in for the
Celery task (its progress states go nowhere). It reads this process's
``VmRSS`` and ``VmHWM`` (peak resident set, /proc/self/status) just before,
after the fetch (``ShardStore.get_many``) and after the copy into one array,
and prints one JSON line. The gpu worker itself holds TensorFlow besides, but
what assembling adds on top of a process's resident set does not depend on it.
"""

import json
import resource
import sys
import time


def _status() -> dict:
    from bench.stats import proc_status_kib

    with open("/proc/self/status") as status:
        text = status.read()
    return {field: proc_status_kib(text, field) * 1024 for field in ("VmRSS", "VmHWM")}


class _NoTask:
    def update_state(self, state=None, meta=None):
        return None


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    with open(argv[0]) as plan_file:
        plan = json.load(plan_file)
    import numpy as np  # noqa: F401

    from shared import shards as shard_module
    from workers import assembly
    from workers.store import store

    store().redis.ping()  # connect now: the connection is not part of the cost
    before = _status()
    fetched = {}
    real_get_many = shard_module.ShardStore.get_many

    def get_many_and_look(self, keys):
        blobs = real_get_many(self, keys)
        fetched.update(_status())
        return blobs

    shard_module.ShardStore.get_many = get_many_and_look
    started = time.perf_counter()
    pixels, paths, _assembly = assembly.assemble_shards(
        _NoTask(), "bench-assemble", plan["data_root"], plan["shards"]
    )
    seconds = time.perf_counter() - started
    after = _status()
    print(
        json.dumps(
            {
                "images": len(paths),
                "array_bytes": int(pixels.nbytes),
                "seconds": seconds,
                "rss_before": before["VmRSS"],
                "hwm_before": before["VmHWM"],
                "rss_after_fetch": fetched.get("VmRSS"),
                "hwm_after_fetch": fetched.get("VmHWM"),
                "rss_after": after["VmRSS"],
                "hwm_after": after["VmHWM"],
                "ru_maxrss_after": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
