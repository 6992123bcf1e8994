"""The figures of ``bench/device_run.sh``: one line per phase as it ends, a table at the end.

``python -m bench.device_report COMMAND FIGURES ...``: each phase prints its line and
appends one row (phase, figure, target) to FIGURES, a JSON-lines file; ``summary``
prints them as one Markdown table, to paste into BENCHMARKS.md. ``missing`` names the
requirements the machine lacks, so that only those are installed from the carried
wheels (the device's own NumPy, Pillow, h5py ... stay). No broker, no Keras: only
files and numbers, so it runs anywhere.
"""

import argparse
import json
import re
import sys
from importlib import metadata
from pathlib import Path

from bench import stats

# On an H200: the whole job within this many times the wall of one plain process.
JOB_OVER_PLAIN_TARGET = 1.10
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def requirement_name(line: str) -> str | None:
    """``celery[redis]==5.7.0`` -> ``celery``; None for comments and blank lines."""
    match = _NAME.match(line.split("#", 1)[0])
    return match.group(1).lower() if match else None


def missing_requirements(lines, installed, left_out=("tensorflow",)) -> list[str]:
    """The requirement lines whose distribution is not in ``installed`` (lower-case
    names, ``-`` and ``_`` alike), less ``left_out``: what the wheels must supply."""
    normal = {name.lower().replace("_", "-") for name in installed}
    wanted = []
    for line in lines:
        name = requirement_name(line)
        if name and name not in left_out and name.replace("_", "-") not in normal:
            wanted.append(line.split("#", 1)[0].strip())
    return wanted


def installed_names() -> set[str]:
    return {dist.metadata["Name"] for dist in metadata.distributions() if dist.metadata["Name"]}


def decode_rows(results: list[dict]) -> list[dict]:
    """Images/s of each cold decode phase, its speedup over the fewest processes' run
    and that speedup per process (1.0: every added process worked as hard as the first)."""
    ordered = sorted(results, key=lambda result: result["concurrency"])
    base = ordered[0]
    base_rate = base["images"] / base["decode_s"]
    rows = []
    for result in ordered:
        rate = result["images"] / result["decode_s"]
        speedup = rate / base_rate
        rows.append(
            {
                "processes": result["concurrency"],
                "images": result["images"],
                "seconds": result["decode_s"],
                "images_per_s": rate,
                "speedup": speedup,
                "efficiency": speedup * base["concurrency"] / result["concurrency"],
            }
        )
    return rows


def training_rate(metrics: dict) -> float:
    """Images/s inside ``model.fit``: the training part, every epoch run."""
    return metrics["train_images"] * metrics["epochs_run"] / metrics["timings"]["train_s"]


def job_line(metrics: dict, wall_s: float) -> str:
    share = metrics["timings"].get("input_wait_share")
    return (
        f"{metrics['model']}: {metrics['backend']} on {metrics['device']},"
        f" {metrics['data_mode']}: {training_rate(metrics):,.0f} images/s in training,"
        f" input wait {'n/a' if share is None else f'{share:.1%}'}, held-out accuracy"
        f" {metrics['test_accuracy']:.4f}, end to end {wall_s:.1f} s"
    )


def plain_row(model: str, job_wall_s: float, plain: dict, plain_wall_s: float) -> dict:
    """The job's wall over one plain process's (decode, import, ``model.fit``) on the same
    images, model and epochs."""
    ratio = stats.ratio(job_wall_s, plain_wall_s)
    verdict = stats.target_verdict(ratio, JOB_OVER_PLAIN_TARGET, at_most=True)
    return {
        "phase": f"{model}: job wall / plain process wall",
        "figure": f"{ratio:.2f} (job {job_wall_s:.1f} s, plain {plain_wall_s:.1f} s:"
        f" decode {plain['decode_s']:.1f}, import {plain['import_s']:.1f},"
        f" fit {plain['fit_s']:.1f})",
        "target": f"<= {JOB_OVER_PLAIN_TARGET:.2f} on an H200: {verdict} here",
    }


def append_row(figures: Path, row: dict) -> None:
    with open(figures, "a") as file:
        file.write(json.dumps(row) + "\n")


def summary_table(rows: list[dict]) -> str:
    return stats.format_table(
        ["phase", "figure", "target"],
        [[row["phase"], row["figure"], row["target"]] for row in rows],
    )


def _read_json(path: str) -> dict:
    """A file's last non-empty line as JSON: the bench helpers print theirs last."""
    lines = [line for line in Path(path).read_text().splitlines() if line.strip()]
    return json.loads(lines[-1])


def _decode(args) -> None:
    rows = decode_rows([_read_json(path) for path in args.results])
    for row in rows:
        line = (
            f"{row['images']:,} images in {row['seconds']:.2f} s: {row['images_per_s']:,.0f}"
            f" images/s; {row['speedup']:.2f}x the {rows[0]['processes']}-process rate,"
            f" efficiency {row['efficiency']:.2f}"
        )
        processes = f"{row['processes']} process{'es' if row['processes'] > 1 else ''}"
        print(f"decode, {processes} in the cpu worker (cold): {line}")
        append_row(
            args.figures,
            {"phase": f"cold decode, {processes}", "figure": line, "target": "none: reported"},
        )


def _job(args) -> None:
    metrics = json.loads(Path(args.metrics).read_text())
    print(job_line(metrics, args.wall))
    share = metrics["timings"].get("input_wait_share")
    append_row(
        args.figures,
        {
            "phase": f"{metrics['model']} job ({metrics['data_mode']}, {metrics['backend']})",
            "figure": f"{training_rate(metrics):,.0f} images/s in training on"
            f" {metrics['device']}; input wait {'n/a' if share is None else f'{share:.1%}'};"
            f" decode phase {metrics['timings'].get('decode_s', float('nan')):.1f} s;"
            f" end to end {args.wall:.1f} s",
            "target": "none: reported",
        },
    )
    if args.plain:
        row = plain_row(metrics["model"], args.wall, _read_json(args.plain), args.plain_wall)
        print(f"{row['phase']}: {row['figure']}; target {row['target']}")
        append_row(args.figures, row)


def _scale(args) -> None:
    metrics = json.loads(Path(args.metrics).read_text())
    images = metrics["images_used"]
    figure = (
        f"{images:,} images in {args.wall:.1f} s: {images / args.wall:,.0f} images/s end to"
        f" end, {training_rate(metrics):,.0f} in training ({metrics['data_mode']}); decode"
        f" {metrics['timings'].get('decode_s', float('nan')):.1f} s"
    )
    print(f"scale, mlp: {figure}")
    append_row(
        args.figures, {"phase": "scale set, mlp job", "figure": figure, "target": "none: reported"}
    )


def _missing(args) -> None:
    lines = Path(args.requirements).read_text().splitlines()
    print(" ".join(missing_requirements(lines, installed_names())))


def _summary(args) -> None:
    rows = [json.loads(line) for line in Path(args.figures).read_text().splitlines() if line]
    print(summary_table(rows))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.device_report")
    commands = parser.add_subparsers(dest="command", required=True)
    missing = commands.add_parser("missing", help="requirements this Python lacks")
    missing.add_argument("requirements")
    missing.set_defaults(run=_missing)
    decode = commands.add_parser("decode", help="bench.cluster_child outputs, one per count")
    decode.add_argument("figures", type=Path)
    decode.add_argument("results", nargs="+")
    decode.set_defaults(run=_decode)
    job = commands.add_parser("job", help="a train job's metrics.json and wall")
    job.add_argument("figures", type=Path)
    job.add_argument("metrics")
    job.add_argument("wall", type=float)
    job.add_argument("--plain", help="bench.plain's output beside it")
    job.add_argument("--plain-wall", type=float)
    job.set_defaults(run=_job)
    scale = commands.add_parser("scale", help="the scale set's job: metrics.json and wall")
    scale.add_argument("figures", type=Path)
    scale.add_argument("metrics")
    scale.add_argument("wall", type=float)
    scale.set_defaults(run=_scale)
    summary = commands.add_parser("summary", help="every row so far, as one table")
    summary.add_argument("figures", type=Path)
    summary.set_defaults(run=_summary)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    args.run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
