"""``python -m bench <name> [--data DIR] [--repeats N]`` from the repository root.

Each benchmark prints a table on stdout and, last, one line with its ratio;
progress goes to stderr. Runs of the variants interleave (A B A B ...) and the
figures are medians: the machine may be shared, so nothing asserts a time.
"""

import argparse
import importlib
import os
import sys

# Each benchmark, in the order `all` runs them: its module.function, imported alone when
# it runs (one needs what another's machine lacks: simplejpeg, a cluster), its default
# repeats (short benchmarks 3, whole-job ones 1) and its default epochs (None: it trains
# nothing). Defaults are filled in here, once, so `all` gives every benchmark a number.
TABLE = {
    "decode": ("decode_bench.main", 3, None),
    "fanout": ("cluster_benches.fanout", 3, None),
    "overhead": ("job_benches.overhead", 1, 10),
    "cache": ("job_benches.cache", 1, None),
    "memory": ("cluster_benches.memory", 3, None),
    "train": ("job_benches.train", 1, 10),
    "predict": ("job_benches.predict", 1, None),
    "scale": ("scale_bench.scale", 1, 2),
    "recovery": ("recovery.recovery", 1, 10),
    "failover": ("failover.failover", 1, 10),
    "epochs": ("epochs_bench.epochs", 1, 5),
    "backends": ("backends_bench.backends", 1, 3),
    "steps": ("steps_bench.steps", 3, 3),
}
BENCHMARKS = tuple(TABLE)
FUNCTIONS = {name: function for name, (function, _, _) in TABLE.items()}
DEFAULT_REPEATS = {name: repeats for name, (_, repeats, _) in TABLE.items()}
DEFAULT_EPOCHS = {name: epochs for name, (_, _, epochs) in TABLE.items()}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("name", choices=(*BENCHMARKS, "all"))
    parser.add_argument(
        "--data",
        help="image folder (default: ../shared/data/dogs-vs-cats/train; test1 for predict)",
    )
    parser.add_argument("--repeats", type=int, help="runs of each variant (default 3 or 1)")
    parser.add_argument(
        "--epochs",
        type=int,
        help="overhead, train, recovery and failover: epochs (default 10); scale: (default 2);"
        " epochs: timed epochs (default 5)",
    )
    parser.add_argument(
        "--sizes",
        type=int,
        nargs="+",
        help="scale: images per job (default 2500 10000 25000 100000)",
    )
    parser.add_argument(
        "--modes",
        nargs="+",
        choices=("auto", "memory", "stream"),
        help="scale: --data-mode of each job (default auto)",
    )
    parser.add_argument(
        "--limit",
        type=int,
        help="decode: time only this many Kaggle images, evenly spread (default: all);"
        " epochs, backends: images a run (default 7500); steps: (default 1024)",
    )
    return parser


def arguments_for(name: str, args) -> argparse.Namespace:
    """``args`` with this benchmark's defaults where the command line gave none."""
    filled = argparse.Namespace(**vars(args))
    if filled.repeats is None:
        filled.repeats = DEFAULT_REPEATS[name]
    if filled.epochs is None:
        filled.epochs = DEFAULT_EPOCHS[name]
    return filled


def run(name: str, args) -> int:
    module_name, function_name = FUNCTIONS[name].split(".")
    function = getattr(importlib.import_module(f"bench.{module_name}"), function_name)
    before = os.getloadavg()[0]
    try:
        return function(arguments_for(name, args))
    finally:
        # Other people's work on the same cores shows here, not in the medians.
        print(
            f"load average (1 min) on {len(os.sched_getaffinity(0))} cores: {before:.2f} before,"
            f" {os.getloadavg()[0]:.2f} after",
            file=sys.stderr,
        )


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.repeats is not None and args.repeats < 1:
        print("--repeats must be at least 1", file=sys.stderr)
        return 2
    names = BENCHMARKS if args.name == "all" else (args.name,)
    status = 0
    for name in names:
        if len(names) > 1:
            print(f"\n## {name}\n", flush=True)
        status = run(name, args) or status
        sys.stdout.flush()
    return status


if __name__ == "__main__":
    sys.exit(main())
