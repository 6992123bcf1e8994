"""Progress output when stderr is not a terminal: plain lines, one per step."""

import io
import re

from catdog_queue.client.progress import JobProgress


def test_log_output_has_one_line_per_finished_epoch_with_held_out_figures():
    stream = io.StringIO()
    progress = JobProgress(stream)
    figures = {"loss": 0.5, "accuracy": 0.75, "val_loss": 0.6, "val_accuracy": 0.7}
    completed = None
    for epoch in range(3):
        progress.task_progress(
            "training",
            "TRAINING",
            {"epoch": epoch, "epochs": 3, "fraction": 0.5, "completed": completed, "loss": 9.0},
        )
        completed = {"epoch": epoch + 1} | figures
        if epoch != 1:  # the poller missed epoch 2's own report: the next batch's tells it
            progress.task_progress(
                "training",
                "TRAINING",
                {"epoch": epoch + 1, "epochs": 3, "completed": completed} | figures,
            )
    progress.task_progress(
        "training", "TRAINING", {"epoch": 2, "epochs": 3, "completed": completed}
    )
    lines = stream.getvalue().splitlines()
    assert [line.split(" [")[0] for line in lines] == [
        "train: epoch 1/3",
        "train: epoch 2/3",
        "train: epoch 3/3",
    ]
    assert all("val_accuracy=0.7000" in line and "loss=0.5000" in line for line in lines)
    assert all("\r" not in line and "9.0000" not in line for line in lines)


def test_decoding_is_reported_every_tenth():
    stream = io.StringIO()
    progress = JobProgress(stream)
    for done in range(0, 1001, 50):
        progress.decode(done, 1000)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 10
    assert lines[0].startswith("decode: 100/1000") and lines[-1].startswith("decode: 1000/1000")


def test_runs_of_a_comparison_are_named():
    stream = io.StringIO()
    progress = JobProgress(stream, several_runs=True)
    progress.task_state("sgd", "TRAINING")
    completed = {"epoch": 1, "loss": 0.125}
    progress.task_progress("sgd", "TRAINING", {"epoch": 1, "epochs": 1, "completed": completed})
    progress.task_state("sgd", "SUCCESS")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3
    assert lines[0] == "run sgd: training"
    assert re.fullmatch(r"train sgd: epoch 1/1 \[\d+s\] loss=0\.1250", lines[1]), lines[1]
    assert lines[2] == "run sgd: success"


def test_a_single_job_names_its_gpu_phases_once_each():
    stream = io.StringIO()
    progress = JobProgress(stream)
    for state in ("PENDING", "STARTED", "ASSEMBLING"):
        progress.task_state("training", state)
    assert stream.getvalue().splitlines() == [
        "gpu: waiting for a gpu worker",
        "gpu: gpu worker started",
        "gpu: assembling shards",
    ]
