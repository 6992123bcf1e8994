"""history.png drawn with Pillow: round ticks, odd histories, an atomic write."""

import math

import pytest
from PIL import Image

from catdog_queue.client.history_plot import nice_ticks
from catdog_queue.client.output import OutputFolder
from catdog_queue.client.plots import plot_history


@pytest.mark.parametrize(
    ("low", "high", "expected"),
    [
        (0.5, 0.61, [0.5, 0.55, 0.6, 0.65]),
        (0.6569, 0.6934, [0.65, 0.66, 0.67, 0.68, 0.69, 0.7]),
        (0.0, 1.0, [0.0, 0.5, 1.0]),
        (3.0, 3.0, [2.5, 3.0, 3.5]),  # one value: a range around it
    ],
)
def test_ticks_are_round_and_cover_the_values(low, high, expected):
    ticks = nice_ticks(low, high)
    assert ticks == pytest.approx(expected)
    assert ticks[0] <= low and ticks[-1] >= high


def test_ticks_of_no_finite_values_are_none():
    assert nice_ticks(math.nan, 1.0) == []


@pytest.mark.parametrize(
    "history",
    [
        [{"loss": 0.7, "accuracy": 0.5, "val_loss": 0.69, "val_accuracy": 0.52}],
        [{"loss": 0.7, "accuracy": 0.5}, {"loss": math.nan, "accuracy": 0.6}],
        [],
        [{"loss": float(n), "accuracy": n / 300, "val_loss": None} for n in range(300)],
    ],
)
def test_any_history_makes_a_png_and_no_partial_file(tmp_path, history):
    path = plot_history(history, OutputFolder(tmp_path), "job: mlp, sgd")
    assert path == tmp_path / "history.png"
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size == (1000, 400)
    assert [entry.name for entry in tmp_path.iterdir()] == ["history.png"]
