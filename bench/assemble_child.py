"""The gpu worker's in-memory loading, alone in a process whose memory is watched.

``python -m bench.assemble_child PLAN.json`` (``CATDOG_STORE_URL`` pointing at
the cluster's Redis) runs what the ``catdog.train`` task runs before training
in memory: ``workers.assembly.shard_catalogue`` (the shards' headers) with a
stand-in for the Celery task, then ``training.windows.gather`` of the
training and held-out parts (the split of ``shared.split``, seed 12345),
shard by shard through ``workers.assembly.fetch_shard``. It reads this
process's ``VmRSS`` and ``VmHWM`` (peak resident set, /proc/self/status) just
before, after the headers and after the gather, and prints one JSON line. The
gpu worker itself holds TensorFlow besides, but what loading adds on top of a
process's resident set does not depend on it.
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
    import numpy as np

    from catdog_queue.shared.listing import label_of
    from catdog_queue.shared.split import stratified_split
    from catdog_queue.training.windows import gather
    from catdog_queue.workers import assembly
    from catdog_queue.workers.store import store

    store().redis.ping()  # connect now: the connection is not part of the cost
    before = _status()
    started = time.perf_counter()
    catalogue, _ = assembly.shard_catalogue(
        _NoTask(), "bench-assemble", plan["data_root"], plan["shards"]
    )
    fetched = _status()
    labels = sorted({label_of(path) for path in catalogue.paths})
    label_indices = np.array([labels.index(label_of(path)) for path in catalogue.paths])
    parts = stratified_split(catalogue.paths, label_indices, 0.25, 12345)
    arrays = gather(catalogue, assembly.fetch_shard, list(parts))
    seconds = time.perf_counter() - started
    after = _status()
    paths = catalogue.paths
    print(
        json.dumps(
            {
                "images": len(paths),
                "array_bytes": int(sum(array.nbytes for array in arrays)),
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
