"""The words a collapsed model earns in its metrics, and the silence a working one gets."""

import pytest

from catdog_queue.client.commands.train import warning_sentences
from catdog_queue.shared.metrics import ResultRejected, check_warnings
from catdog_queue.training.collapse import collapse_warnings, likely_reasons

LABELS = ["cat", "dog"]


def test_a_working_model_gets_no_warning():
    assert collapse_warnings([[180, 20], [30, 170]], LABELS, 0.9, 0.88) == []


def test_the_reported_collapse_gets_every_warning_and_the_likely_reasons():
    # The user's run: every held-out image called a dog, training accuracy 0.75.
    warnings = collapse_warnings([[0, 200], [0, 200]], LABELS, 0.5, 0.7558, trains_batch_norm=True)

    assert warnings[0] == (
        "the model predicts 'dog' for all 400 held-out images: it has collapsed to one label"
    )
    assert warnings[1] == (
        "held-out accuracy 0.5000 is at chance (0.5000, the largest label's share)"
        " while training accuracy reached 0.7558"
    )
    assert "inference differs from training" in warnings[2]
    assert "0.5000, against 0.7558" in warnings[2]
    assert warnings[-1] == likely_reasons(trains_batch_norm=True)
    assert warnings[-1].startswith(
        "likely reasons: too few training steps for batch normalisation's moving statistics"
    )
    assert "--epochs" in warnings[-1] and "--learning-rate" in warnings[-1]


def test_batch_normalisation_is_a_reason_only_for_a_model_that_trains_it():
    # The MLP at 800 images: 0.615 on its training images, 0.50 held out.
    warnings = collapse_warnings([[51, 49], [51, 49]], LABELS, 0.615, 0.615)

    assert warnings[0].startswith("held-out accuracy 0.5000 is at chance")
    assert warnings[-1] == likely_reasons(trains_batch_norm=False)
    assert "batch normalisation" not in warnings[-1]
    assert "too few images for this model" in warnings[-1]


def test_one_label_for_everything_is_reported_even_when_training_learnt_nothing():
    warnings = collapse_warnings([[0, 5], [0, 5]], LABELS, 0.5, 0.5)

    assert warnings == [
        "the model predicts 'dog' for all 10 held-out images: it has collapsed to one label",
        likely_reasons(trains_batch_norm=False),
    ]


def test_chance_is_the_largest_labels_share_within_the_noise_of_the_held_out_size():
    # 300 cats, 100 dogs: answering "cat" always scores 0.75.
    at_chance = collapse_warnings([[280, 20], [75, 25]], LABELS, 0.95, 0.95)
    assert any("at chance (0.7500" in warning for warning in at_chance)
    # Clearly above chance (0.80 on 400 images, two standard errors 0.043): no warning.
    assert collapse_warnings([[290, 10], [70, 30]], LABELS, 0.95, 0.95) == []


def test_chance_is_not_reported_when_training_did_not_get_above_it():
    # An MLP that never learnt: a poor model, but nothing collapsed.
    assert collapse_warnings([[110, 90], [95, 105]], LABELS, 0.55, 0.56) == []


def test_inference_far_below_training_on_the_same_images_is_reported():
    warnings = collapse_warnings([[150, 50], [60, 140]], LABELS, 0.6, 0.9)

    assert len(warnings) == 2
    assert "scores 0.6000, against 0.9000 while training" in warnings[0]


def test_no_warning_without_two_held_out_labels_or_without_history():
    assert collapse_warnings([[3, 0], [0, 0]], LABELS, 1.0, 1.0) == []
    assert collapse_warnings([[0, 0], [0, 0]], LABELS, 0.0, None) == []
    assert collapse_warnings([[5, 5], [5, 5]], LABELS, 0.5, None) == []


def test_three_labels():
    warnings = collapse_warnings([[0, 0, 9], [0, 0, 9], [0, 0, 9]], ["a", "b", "c"], 0.4, 0.8)

    assert warnings[0].startswith("the model predicts 'c' for all 27 held-out images")
    assert "at chance (0.3333" in warnings[1]


def test_a_matrix_that_does_not_fit_the_labels_is_refused():
    with pytest.raises(ValueError, match=r"must be 2x2, received shape \(3, 3\)"):
        collapse_warnings([[1, 0, 0], [0, 1, 0], [0, 0, 1]], LABELS, 1.0, 1.0)


def test_the_client_accepts_only_a_few_printable_sentences():
    assert check_warnings(["the model predicts 'dog'"]) == ["the model predicts 'dog'"]
    for bad in (["\x1b[2J"], [1], ["x" * 1001], ["a"] * 11):
        with pytest.raises(ResultRejected, match="printable sentences"):
            check_warnings(bad)


def test_warnings_print_as_sentences_on_one_line():
    assert warning_sentences(["one label", "likely reasons: x."]) == [
        "One label.",
        "Likely reasons: x.",
    ]


def test_the_summary_line_ends_with_the_warnings(capsys, tmp_path):
    from catdog_queue.client.commands.train import report

    metrics = {
        "job_id": "j1", "test_accuracy": 0.5, "tta": "none", "test_loss": 1.1642,
        "test_images": 400, "train_accuracy": 0.5, "images_used": 1600, "images_rejected": [],
        "epochs_run": 25, "timings": {"train_s": 60.0}, "resumed_from_epoch": None,
        "device": "CPU: x", "warnings": collapse_warnings([[0, 200], [0, 200]], LABELS, 0.5, 0.75),
    }  # fmt: skip
    assert report({"metrics": metrics, "predicted": None}, tmp_path) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert line.startswith("job j1: held-out accuracy 0.5000 (loss 1.1642) on 400 images,")
    assert f"results in {tmp_path}/; WARNING: The model predicts 'dog' for all 400" in line
    assert line.endswith("or labels that do not follow the images.")

    report({"metrics": metrics | {"warnings": [], "tta": "flip"}, "predicted": None}, tmp_path)
    line = capsys.readouterr().out.strip()
    assert line.startswith("job j1: held-out accuracy 0.5000 (with --tta flip) (loss 1.1642)")
    assert line.endswith(f"results in {tmp_path}/")
