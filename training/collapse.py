"""Warnings for a model that trained but does not work: it has collapsed.

A job that trains a useless model still succeeds (it did what it was asked),
so the metrics say so in words instead: a model that calls every held-out
image the same label, scores at chance while its training accuracy is well
above it, or scores far worse at inference on its own training images than
it did while training on them.

Pure NumPy: cheap to test, and no Keras needed to read a result.
"""

import math

import numpy as np

# Above chance by this much, training has learnt something.
LEARNT_MARGIN = 0.1
# Inference mode scoring this much below training mode on the same images is
# not dropout or augmentation (those make training mode the lower one).
INFERENCE_GAP = 0.15
BATCH_NORM_REASON = (
    "too few training steps for batch normalisation's moving statistics to settle (few images"
    " or epochs: try more --epochs or a smaller --batch-size)"
)
OTHER_REASONS = (
    "too few images for this model (it learnt the training images, not what tells the labels"
    " apart), a learning rate too high (try a lower --learning-rate), or labels that do not"
    " follow the images"
)


def likely_reasons(trains_batch_norm: bool) -> str:
    """Moving statistics are a reason only for a model whose batch norm trains (the CNN)."""
    if trains_batch_norm:
        return f"likely reasons: {BATCH_NORM_REASON}, {OTHER_REASONS}"
    return f"likely reasons: {OTHER_REASONS}"


def collapse_warnings(
    confusion_matrix, labels, train_accuracy: float, training_mode_accuracy: float | None,
    trains_batch_norm: bool = False,
) -> list[str]:  # fmt: skip
    """What looks wrong with a trained model, in words; ``[]`` when nothing does.

    ``confusion_matrix``: held-out, rows true labels, columns predicted;
    ``train_accuracy``: the saved model's (inference mode) on the training
    part; ``training_mode_accuracy``: the last epoch's, as ``fit`` measured it
    while training (None when no epoch ran); ``trains_batch_norm``: whether
    the model's batch normalisation trained (the reasons then name it).
    """
    matrix = np.asarray(confusion_matrix, dtype=np.int64)
    if matrix.ndim != 2 or matrix.shape != (len(labels), len(labels)):
        raise ValueError(
            f"a confusion matrix of {len(labels)} labels must be {len(labels)}x{len(labels)},"
            f" received shape {matrix.shape}"
        )
    images = int(matrix.sum())
    if images < 2 or np.count_nonzero(matrix.sum(axis=1)) < 2:
        return []  # one held-out label, or none: nothing to tell apart
    accuracy = float(np.trace(matrix)) / images
    chance = float(matrix.sum(axis=1).max()) / images  # always answering the largest label
    # Two standard errors of an accuracy measured on this many images.
    noise = 2 * math.sqrt(chance * (1 - chance) / images)
    found = []
    predicted = matrix.sum(axis=0)
    if np.count_nonzero(predicted) == 1:
        only = labels[int(np.argmax(predicted))]
        found.append(
            f"the model predicts {only!r} for all {images} held-out images: it has collapsed"
            " to one label"
        )
    learnt = training_mode_accuracy is not None and (
        training_mode_accuracy >= chance + LEARNT_MARGIN
    )
    if learnt and accuracy <= chance + noise:
        found.append(
            f"held-out accuracy {accuracy:.4f} is at chance ({chance:.4f}, the largest label's"
            f" share) while training accuracy reached {training_mode_accuracy:.4f}"
        )
    if learnt and train_accuracy <= training_mode_accuracy - INFERENCE_GAP:
        found.append(
            f"on its own training images the saved model scores {train_accuracy:.4f}, against"
            f" {training_mode_accuracy:.4f} while training: inference differs from training"
            " (layers that act differently at inference, such as batch normalisation)"
        )
    if found:
        found.append(likely_reasons(trains_batch_norm))
    return found
