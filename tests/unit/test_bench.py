"""The benchmarks' pure helpers (bench/stats.py) and their command line; nothing timed."""

import math
import re
from datetime import datetime

import pytest
from PIL import Image

from bench import stats
from bench.__main__ import BENCHMARKS, DEFAULT_REPEATS, arguments_for, build_parser


def test_median_of_odd_and_even_counts():
    assert stats.median([3, 1, 2]) == 2
    assert stats.median([4, 1, 3, 2]) == 2.5
    assert stats.median([7]) == 7
    assert stats.median(value for value in (5.0, 1.0, 9.0)) == 5.0


def test_median_of_nothing_is_an_error():
    with pytest.raises(ValueError):
        stats.median([])


def test_ratio_and_its_undefined_cases():
    assert stats.ratio(3, 4) == 0.75
    assert math.isnan(stats.ratio(1, 0))
    assert math.isnan(stats.ratio(1, None))
    assert math.isnan(stats.ratio(None, 2))


def test_interleaved_alternates_variants_within_each_repeat():
    assert stats.interleaved(("a", "b"), 3) == [
        (0, "a"),
        (0, "b"),
        (1, "a"),
        (1, "b"),
        (2, "a"),
        (2, "b"),
    ]
    with pytest.raises(ValueError):
        stats.interleaved(("a",), 0)


def test_medians_by_name_keeps_first_seen_order():
    samples = [("job", 3.0), ("plain", 2.0), ("job", 1.0), ("plain", 4.0), ("job", 2.0)]
    medians = stats.medians_by_name(samples)
    assert list(medians) == ["job", "plain"]
    assert medians == {"job": 2.0, "plain": 3.0}


@pytest.mark.parametrize(
    ("value", "target", "at_most", "expected"),
    [
        (0.55, 0.6, True, "met"),
        (0.6, 0.6, True, "met"),
        (0.61, 0.6, True, "MISSED"),
        (2.5, 2.0, False, "met"),
        (1.9, 2.0, False, "MISSED"),
        (math.nan, 2.0, False, "n/a"),
    ],
)
def test_target_verdict(value, target, at_most, expected):
    assert stats.target_verdict(value, target, at_most) == expected


def test_format_table_aligns_numbers_right_and_text_left():
    table = stats.format_table(
        ["name", "images", "rate"],
        [["ours", 10000, 1234.5678], ["tutorial", 600, 98.7]],
    )
    lines = table.splitlines()
    assert lines[0] == "| name     | images |     rate |"
    assert lines[1] == "| -------- | -----: | -------: |"
    assert lines[2] == "| ours     | 10,000 | 1,234.57 |"
    assert lines[3] == "| tutorial |    600 |    98.70 |"


def test_format_table_shows_missing_and_undefined_values():
    table = stats.format_table(["a", "b"], [["x", None], ["y", math.nan]])
    assert table.splitlines()[2:] == ["| x |   - |", "| y | n/a |"]


def test_format_table_refuses_ragged_rows():
    with pytest.raises(ValueError):
        stats.format_table(["a", "b"], [["only one"]])


@pytest.mark.parametrize(
    ("width", "height", "size", "expected"),
    [
        (200, 200, 32, 4),  # Kaggle's 200x200: 50x50 after 1/4, 25x25 would be too small
        (480, 320, 32, 8),  # pets-originals: 60x40 after 1/8
        (500, 63, 32, 1),  # one side too short to scale at all
        (64, 64, 32, 2),
        (32, 32, 32, 1),
        (16, 16, 32, 1),
    ],
)
def test_jpeg_scale_is_what_pillow_draft_picks(width, height, size, expected):
    assert stats.jpeg_scale(width, height, size) == expected


def test_jpeg_scale_agrees_with_pillow(tmp_path):
    for width, height in [(200, 200), (480, 320), (101, 77), (64, 250)]:
        path = tmp_path / f"{width}x{height}.jpg"
        Image.new("RGB", (width, height), (10, 20, 30)).save(path)
        with Image.open(path) as image:
            image.draft("RGB", (32, 32))
            scaled_width = image.size[0]
        denominator = stats.jpeg_scale(width, height, 32)
        assert scaled_width == -(-width // denominator)


def test_first_epoch_seconds_finds_the_job_and_the_plain_lines():
    lines = [
        (100.0, "job 1: 10000 files"),
        (104.0, "decode: 10000/10000 [4s]"),
        (110.5, "train: epoch 1/10 [2s] loss=0.6900"),
        (111.5, "train: epoch 2/10 [3s] loss=0.6800"),
    ]
    assert stats.first_epoch_seconds(lines, 100.0) == (10.5, True)
    assert stats.first_epoch_seconds([(7.0, "plain: epoch 1/10")], 1.0) == (6.0, True)


def test_first_epoch_seconds_extrapolates_a_missing_epoch_one_line():
    lines = [(20.0, "train: epoch 3/10 [2s]"), (21.5, "train: epoch 4/10 [3s]")]
    assert stats.first_epoch_seconds(lines, 10.0) == (7.0, False)  # 20 - 2 x 1.5 - 10
    lines = [(20.0, "train: epoch 2/10 [2s]"), (26.0, "train: epoch 5/10 [3s]")]
    assert stats.first_epoch_seconds(lines, 10.0) == (8.0, False)


def test_first_epoch_seconds_without_enough_lines():
    assert stats.first_epoch_seconds([(7.0, "train: epoch 10/10")], 1.0) == (None, False)
    assert stats.first_epoch_seconds([], 1.0) == (None, False)


def test_line_time():
    lines = [(10.0, "job x: ..."), (12.0, "local cluster: redis on ...")]
    assert stats.line_time(lines, "local cluster:", 9.0) == 3.0
    assert stats.line_time(lines, "decode:", 9.0) is None


def test_parse_predict_summary():
    text = (
        "predicted 2000 images, 21.4s in all (93 images/s), 0 rejected;"
        " predictions.csv (label = probability of 'dog')\n"
    )
    assert stats.parse_predict_summary(text) == {"rows": 2000, "seconds": 21.4, "rate": 93.0}
    assert stats.parse_predict_summary("nothing here") is None


def test_celery_log_events_reads_stamps_and_groups():
    log = "\n".join(
        [
            "WARNING: not a Celery line",
            "[2026-11-29 01:02:28,828: INFO/MainProcess] gpu-worker-1@vm ready.",
            "[2026-11-29 01:02:28,859: INFO/MainProcess] job 1: assembled 2000 images in 0.03s",
            "[2026-11-29 01:02:29,000: INFO/MainProcess] job 1: assembled 5 images in 9.00s",
        ]
    )
    events = stats.celery_log_events(
        log, {"ready": r"ready\.", "assembled": r"assembled (\d+) images in ([\d.]+)s"}
    )
    expected = datetime(2026, 11, 29, 1, 2, 28, 859000).timestamp()
    assert events["assembled"] == (expected, ("2000", "0.03"))
    assert events["ready"][0] == pytest.approx(expected - 0.031)


def test_proc_status_kib():
    text = "Name:\tpython\nVmHWM:\t  123456 kB\nVmRSS:\t   65432 kB\n"
    assert stats.proc_status_kib(text, "VmHWM") == 123456
    assert stats.proc_status_kib(text, "VmRSS") == 65432
    assert stats.proc_status_kib(text, "VmSwap") is None


def test_evenly_spaced():
    items = list(range(10))
    assert stats.evenly_spaced(items, 5) == [0, 2, 4, 6, 8]
    assert stats.evenly_spaced(items, None) == items
    assert stats.evenly_spaced(items, 0) == items
    assert stats.evenly_spaced(items, 50) == items


def test_command_line_knows_every_benchmark():
    parser = build_parser()
    for name in BENCHMARKS:
        args = parser.parse_args([name, "--data", "/tmp/x", "--repeats", "2"])
        assert (args.name, args.data, args.repeats) == (name, "/tmp/x", 2)
        assert DEFAULT_REPEATS[name] in (1, 3)
    assert parser.parse_args(["decode"]).repeats is None
    with pytest.raises(SystemExit):
        parser.parse_args(["nonsense"])


def test_bench_all_gives_every_training_benchmark_a_number_of_epochs():
    # `bench all` once ran recovery as `submit.py train --epochs None`.
    args = build_parser().parse_args(["all"])
    epochs = {name: arguments_for(name, args).epochs for name in BENCHMARKS}
    assert epochs == {
        "decode": None, "fanout": None, "overhead": 10, "cache": None, "memory": None,
        "train": 10, "predict": None, "scale": 2, "recovery": 10, "failover": 10, "epochs": 5,
        "backends": 3, "steps": 3,
    }  # fmt: skip
    assert arguments_for("recovery", args).repeats == 1
    assert args.epochs is None and args.repeats is None  # each benchmark gets its own copy


def test_proc_stat_busy_seconds_leaves_out_idle_and_iowait():
    text = "cpu  1000 50 300 9000 200 10 20 30 0 0\ncpu0 500 25 150 4500 100 5 10 15 0 0\n"
    # user + nice + system + irq + softirq + steal = 1000 + 50 + 300 + 10 + 20 + 30
    assert stats.proc_stat_busy_seconds(text, 100) == pytest.approx(14.1)
    with pytest.raises(ValueError):
        stats.proc_stat_busy_seconds("intr 1 2 3\n")


def test_others_cores():
    assert stats.others_cores(machine_busy_s=6.0, ours_s=4.0, wall_s=2.0) == 1.0
    assert stats.others_cores(machine_busy_s=3.9, ours_s=4.0, wall_s=2.0) == 0.0
    assert math.isnan(stats.others_cores(1.0, 0.0, 0.0))


def test_rotated_starts_each_block_with_the_next_method():
    names = ["ours", "tutorial", "tf.data"]
    assert stats.rotated(names, 0) == names
    assert stats.rotated(names, 1) == ["tutorial", "tf.data", "ours"]
    assert stats.rotated(names, 5) == ["tf.data", "ours", "tutorial"]
    assert stats.rotated([], 3) == []


# --- scale data sets ----------------------------------------------------------


def test_scale_subsets_spread_over_both_labels_and_larger_sets_add_variants():
    from bench.scale_data import plan, variant_name
    from catdog_queue.shared.listing import label_of

    originals = sorted([f"cat.{n}.jpg" for n in range(50)] + [f"dog.{n}.jpg" for n in range(50)])
    subset = plan(originals, 20)
    assert len(subset) == len(set(subset)) == 20 and {variant for _, variant in subset} == {0}
    assert sum(name.startswith("cat") for name, _ in subset) == 10
    larger = plan(originals, 250)
    assert len(larger) == len(set(larger)) == 250
    assert {variant for _, variant in larger} == {0, 1, 2}
    names = [variant_name(name, variant) for name, variant in larger]
    assert len(set(names)) == 250 and variant_name("dog.7.jpg", 3) == "dog.v3n7.jpg"
    assert {label_of(name) for name in names} == {"cat", "dog"}  # still LABEL.N.jpg


def test_epoch_bench_times_each_epoch_after_the_one_that_compiles():
    from bench.epochs_bench import accelerator, epoch_seconds

    timed, first = epoch_seconds("mlp", 8, "sgd", "constant", False, epochs=2, images=64)
    assert len(timed) == 2 and all(seconds > 0 for seconds in timed) and first > 0
    assert accelerator() == "cpu" or accelerator().startswith("gpu: ")


def test_each_benchmark_module_resolves_to_its_function():
    import importlib

    from bench import __main__ as bench_main

    for name in BENCHMARKS:
        module_name, function_name = bench_main.FUNCTIONS[name].split(".")
        module = importlib.import_module(f"bench.{module_name}")
        assert callable(getattr(module, function_name)), name


def test_benchmarks_md_opens_with_a_current_figure_of_every_benchmark():
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "BENCHMARKS.md").read_text()
    first_section = text.split("\n## ", 2)[1]
    assert first_section.startswith("Current figures")
    rows = [line for line in first_section.splitlines() if line.startswith("| ")]
    assert rows[0] == "| what | figure | target | command | date |"
    commands = {
        re.search(r"`python -m bench (\w+)", row).group(1) for row in rows[2:] if "bench" in row
    }
    assert commands == set(BENCHMARKS)
    assert all(re.search(r"\| \d{4}-\d{2}-\d{2} \|$", row) for row in rows[2:])


def test_backends_rows_take_medians_per_backend_and_model_and_jax_over_tensorflow():
    from bench.backends_bench import ratios, summary_rows

    def run(backend, model, seconds, wait):
        return {"backend": backend, "device": "CPU: x", "model": model, "px": 32,
                "images": 1000, "epoch_s": seconds, "input_wait_share": wait}  # fmt: skip

    rows = summary_rows([
        run("tensorflow", "mlp", [1.0, 2.0, 3.0], 0.01),
        run("jax", "mlp", [2.0, 2.5], None),
    ])  # fmt: skip
    by_backend = {row["backend"]: row for row in rows}
    assert by_backend["tensorflow"]["epoch_s"] == 2.0
    assert by_backend["tensorflow"]["images_per_s"] == 500.0
    assert by_backend["jax"]["input_wait_share"] is None
    assert ratios(rows) == {"mlp": 2.25 / 2.0}
    assert ratios(rows, slower="torch") == {}  # no PyTorch row, no ratio


def test_backends_leave_out_a_backend_that_is_not_installed(capsys):
    from bench.backends_bench import installed_backends

    present = {"tensorflow", "torch"}
    found = installed_backends(lambda name: object() if name in present else None)
    assert found == ["tensorflow", "torch"]
    assert "jax is not installed: left out" in capsys.readouterr().err
