"""``fanout`` and ``memory``: the decode phase on a fresh embedded cluster.

Each measurement is one ``python -m bench.cluster_child`` process with its own
Redis server, worker and empty cache folder, so nothing is reused between
runs and Celery's cached connections never point at a stopped server.
"""

from bench import stats
from bench.procs import KAGGLE_TRAIN, run_json, say

FANOUT_TARGET = 0.6
REDIS_TARGET = 1.05
ASSEMBLE_TARGET = 2.5


def _decode_once(data: str, concurrency: int, memory: bool = False) -> dict:
    arguments = ["-m", "bench.cluster_child", "--data", data, "--concurrency", str(concurrency)]
    result = run_json(arguments + (["--memory"] if memory else []))
    result.pop("_finished", None)
    return result


def fanout(args) -> int:
    data = args.data or str(KAGGLE_TRAIN)
    samples, images, others = [], {}, []
    for repeat, concurrency in stats.interleaved((1, 2), args.repeats):
        result = _decode_once(data, concurrency)
        say(
            f"fanout #{repeat + 1} x{concurrency}: {result['images']} images decoded in"
            f" {result['decode_s']:.2f}s (worker ready after {result['ready_s']:.1f}s;"
            f" others used {result['others_cores']:.2f} cores meanwhile)"
        )
        samples.append((concurrency, result["decode_s"]))
        others.append((concurrency, result["others_cores"]))
        images[concurrency] = result["images"]
    medians = stats.medians_by_name(samples)
    rows = []
    for concurrency in (1, 2):
        seconds = [value for name, value in samples if name == concurrency]
        rows.append(
            [
                f"{concurrency} process{'es' if concurrency > 1 else ''}",
                images[concurrency],
                len(seconds),
                medians[concurrency],
                min(seconds),
                max(seconds),
                images[concurrency] / medians[concurrency],
                stats.medians_by_name(others)[concurrency],
            ]
        )
    print(
        stats.format_table(
            [
                "cpu worker",
                "images",
                "runs",
                "median s",
                "min s",
                "max s",
                "images/s",
                "others' CPU (cores)",
            ],
            rows,
        )
    )
    pairs = [
        stats.ratio(two, one)
        for one, two in zip(
            [value for name, value in samples if name == 1],
            [value for name, value in samples if name == 2],
        )
    ]
    print("2 / 1 run by run (A B pairs): " + ", ".join(f"{pair:.2f}" for pair in pairs))
    value = stats.ratio(medians[2], medians[1])
    verdict = stats.target_verdict(value, FANOUT_TARGET, at_most=True)
    print(f"target: 2 workers / 1 worker <= {FANOUT_TARGET}: {verdict}")
    print(f"fanout ratio (2 workers / 1 worker): {value:.2f}")
    return 0


def memory(args) -> int:
    data = args.data or str(KAGGLE_TRAIN)
    runs = []
    for repeat in range(args.repeats):
        result = _decode_once(data, 2, memory=True)
        assembled = result["assemble"]
        say(
            f"memory #{repeat + 1}: {result['images']} images, Redis MEMORY USAGE"
            f" {result['redis_memory_usage']:,} B; assemble RSS {assembled['rss_before']:,}"
            f" -> peak {assembled['hwm_after']:,} B"
        )
        runs.append(result)
    first = runs[0]
    size = first["image_size"]
    array_bytes = first["images"] * size * size * 3
    redis_ratios = [run["redis_memory_usage"] / array_bytes for run in runs]
    peak_ratios = [
        (run["assemble"]["hwm_after"] - run["assemble"]["rss_before"]) / array_bytes for run in runs
    ]
    fetch_ratios = [
        (run["assemble"]["hwm_after_fetch"] - run["assemble"]["rss_before"]) / array_bytes
        for run in runs
    ]
    held_ratios = [
        (run["assemble"]["rss_after"] - run["assemble"]["rss_before"]) / array_bytes for run in runs
    ]
    redis_ratio, peak_ratio = stats.median(redis_ratios), stats.median(peak_ratios)
    mib = 1024 * 1024
    rows = [
        ["N x S x S x 3 (the array)", array_bytes / mib, 1.0, "-", "-"],
        [
            "shard values (STRLEN, summed)",
            stats.median(run["redis_strlen"] for run in runs) / mib,
            stats.median(run["redis_strlen"] / array_bytes for run in runs),
            "-",
            "-",
        ],
        [
            "shards in Redis (MEMORY USAGE, summed)",
            stats.median(run["redis_memory_usage"] for run in runs) / mib,
            redis_ratio,
            f"<= {REDIS_TARGET}",
            stats.target_verdict(redis_ratio, REDIS_TARGET, at_most=True),
        ],
        [
            "Redis used_memory growth (shards + Celery)",
            stats.median(run["redis_used_memory_growth"] for run in runs) / mib,
            stats.median(run["redis_used_memory_growth"] / array_bytes for run in runs),
            "-",
            "-",
        ],
        [
            "loader: peak RSS increase after the shard headers",
            stats.median(
                run["assemble"]["hwm_after_fetch"] - run["assemble"]["rss_before"] for run in runs
            )
            / mib,
            stats.median(fetch_ratios),
            "-",
            "-",
        ],
        [
            "loader: peak RSS increase, headers + gather shard by shard",
            stats.median(
                run["assemble"]["hwm_after"] - run["assemble"]["rss_before"] for run in runs
            )
            / mib,
            peak_ratio,
            f"<= {ASSEMBLE_TARGET}",
            stats.target_verdict(peak_ratio, ASSEMBLE_TARGET, at_most=True),
        ],
        [
            "loader: RSS increase held afterwards (the arrays)",
            stats.median(
                run["assemble"]["rss_after"] - run["assemble"]["rss_before"] for run in runs
            )
            / mib,
            stats.median(held_ratios),
            "-",
            "-",
        ],
    ]
    print(
        f"{first['images']} images at {size}x{size}, {first['shards']} shards;"
        f" redis allocator {first.get('allocator')}; assemble took"
        f" {stats.median(run['assemble']['seconds'] for run in runs):.2f}s"
    )
    print(stats.format_table(["what", "MiB", "x array", "target", "verdict"], rows))
    print(f"memory ratios: redis {redis_ratio:.3f}x, assemble peak {peak_ratio:.2f}x")
    return 0
