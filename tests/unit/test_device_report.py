"""bench/device_run.sh's helpers, without a broker or a GPU: the figures it prints, the
requirements it installs, the scale set's variants, and the plain baseline on JAX alone."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench import device_report, scale_data

REPOSITORY = Path(__file__).resolve().parents[2]


def test_requirement_names_drop_extras_pins_and_comments():
    assert device_report.requirement_name("celery[redis]==5.7.0") == "celery"
    assert device_report.requirement_name("Pillow==13.0.0  # decoding") == "pillow"
    assert device_report.requirement_name("# a comment") is None
    assert device_report.requirement_name("") is None


def test_only_requirements_the_machine_lacks_are_installed_and_never_tensorflow():
    lines = [
        "# runtime",
        "tensorflow==2.21.0",
        "keras==3.15.1",
        "celery[redis]==5.7.0",
        "numpy==2.4.6",
        "ml_dtypes==0.7.0  # as the wheel spells it",
    ]
    installed = {"numpy", "ml-dtypes", "jax"}
    assert device_report.missing_requirements(lines, installed) == [
        "keras==3.15.1",
        "celery[redis]==5.7.0",
    ]


def test_decode_speedup_and_efficiency_are_against_the_fewest_processes():
    results = [
        {"concurrency": 4, "images": 1000, "decode_s": 0.5},
        {"concurrency": 1, "images": 1000, "decode_s": 1.6},
    ]
    rows = device_report.decode_rows(results)
    assert [row["processes"] for row in rows] == [1, 4]
    assert rows[0]["speedup"] == 1.0 and rows[0]["efficiency"] == 1.0
    assert rows[1]["images_per_s"] == 2000.0
    assert rows[1]["speedup"] == pytest.approx(3.2)
    assert rows[1]["efficiency"] == pytest.approx(0.8)


def test_job_over_plain_is_held_to_its_target():
    plain = {"decode_s": 1.0, "import_s": 2.0, "fit_s": 7.0}
    within = device_report.plain_row("mlp", 10.5, plain, 10.0)
    beyond = device_report.plain_row("cnn", 12.0, plain, 10.0)
    assert within["figure"].startswith("1.05 (job 10.5 s, plain 10.0 s")
    assert within["target"].endswith("met here")
    assert beyond["target"].endswith("MISSED here")


def _metrics(model="mlp", images=2000):
    return {
        "model": model, "backend": "jax", "device": "GPU: NVIDIA H200", "data_mode": "stream",
        "train_images": 1500, "epochs_run": 2, "images_used": images, "test_accuracy": 0.61,
        "timings": {"train_s": 3.0, "decode_s": 1.5, "input_wait_share": 0.02},
    }  # fmt: skip


def test_each_phase_prints_its_line_and_the_summary_holds_every_row(tmp_path, capsys):
    figures = tmp_path / "figures.jsonl"
    for processes, seconds in ((1, 2.0), (2, 1.25)):
        result = {"concurrency": processes, "images": 2000, "decode_s": seconds}
        (tmp_path / f"decode-{processes}.json").write_text("log line\n" + json.dumps(result))
    decodes = [str(tmp_path / "decode-1.json"), str(tmp_path / "decode-2.json")]
    (tmp_path / "metrics.json").write_text(json.dumps(_metrics()))
    plain = {"decode_s": 0.5, "import_s": 2.0, "fit_s": 4.0}
    (tmp_path / "plain.json").write_text(json.dumps(plain))
    device_report.main(["decode", str(figures), *decodes])
    job = ["job", str(figures), str(tmp_path / "metrics.json"), "11.0"]
    device_report.main([*job, "--plain", str(tmp_path / "plain.json"), "--plain-wall", "10"])
    device_report.main(["scale", str(figures), str(tmp_path / "metrics.json"), "20"])
    printed = capsys.readouterr().out
    assert "decode, 2 processes in the cpu worker (cold): 2,000 images in 1.25 s" in printed
    assert "efficiency 0.80" in printed
    assert "1,000 images/s in training, input wait 2.0%" in printed
    assert "mlp: job wall / plain process wall: 1.10 (job 11.0 s, plain 10.0 s" in printed
    assert "scale, mlp: 2,000 images in 20.0 s: 100 images/s end to end" in printed

    device_report.main(["summary", str(figures)])
    table = capsys.readouterr().out.splitlines()
    assert [cell.strip() for cell in table[0].split("|")[1:-1]] == ["phase", "figure", "target"]
    phases = [line.split("|")[1].strip() for line in table[2:]]
    assert phases == [
        "cold decode, 1 process",
        "cold decode, 2 processes",
        "mlp job (stream, jax)",
        "mlp: job wall / plain process wall",
        "scale set, mlp job",
    ]


def test_scale_variants_stay_distinct_beyond_one_round_and_unchanged_within_it():
    encodings = [scale_data.variant_encoding(variant) for variant in range(1, 60)]
    assert len(set(encodings)) == len(encodings)
    # The sets already made (up to 12 variants) keep their recipe.
    assert [scale_data.variant_encoding(v) for v in (1, 11)] == [(188, 91), (68, 51)]
    assert all(side >= 64 and quality >= 40 for side, quality in encodings)


def test_the_plain_baseline_trains_both_models_on_jax_without_tensorflow(tmp_path):
    # As on the lent GPU machine: no TensorFlow to import. A finder refuses it.
    code = """
import sys
class NoTensorFlow:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] == 'tensorflow':
            raise ModuleNotFoundError(name)
sys.meta_path.insert(0, NoTensorFlow())
import numpy as np
from bench.plain import fit_like_the_task
paths = [f'{label}.{n}.jpg' for label in ('cat', 'dog') for n in range(16)]
pixels = np.random.default_rng(0).integers(0, 256, (32, 16, 16, 3), dtype=np.uint8)
for model in ('mlp', 'cnn'):
    fitted = fit_like_the_task(pixels, paths, ['cat', 'dog'], 1, batch_size=8, model_name=model)
    print(model, fitted['train_images'], fitted['epochs'])
print(sorted(m for m in sys.modules if m.split('.')[0] == 'tensorflow'))
"""
    environment = {"KERAS_BACKEND": "jax", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    finished = subprocess.run(
        [sys.executable, "-c", code], cwd=REPOSITORY, env=environment, capture_output=True,
        text=True, timeout=240,
    )  # fmt: skip
    assert finished.returncode == 0, finished.stderr[-2000:]
    assert finished.stdout.splitlines()[-3:] == ["mlp 24 1", "cnn 24 1", "[]"]
