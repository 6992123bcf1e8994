"""Held-out loss, accuracy and confusion matrix, and the training part's accuracy.

One pass over each part, batch by batch from either feed, so evaluation
holds no more than training does. The held-out pass yields probabilities
and the compiled loss together: ``model.evaluate``'s figure (Keras computes a
softmax model's binary cross-entropy from the cached logits, so it cannot be
recomputed from probabilities) without reading the shards a second time for
the confusion matrix.

Backend-neutral: Keras compiles both calls (``predict_on_batch``,
``test_on_batch``) for TensorFlow, JAX or PyTorch alike. Only the GPU worker
imports this module.
"""

import numpy as np

from catdog_queue.training.fitting_batches import FittingBatches
from catdog_queue.training.prediction import predict_batch


def evaluate(model, feed, batch_size: int, classes: int, tta: str = "none") -> dict:
    """``tta="flip"``: every image's probabilities averaged with its mirror's, as
    ``predict --tta flip`` would give them."""
    step = _probabilities_and_loss(model, tta)
    test_probabilities, test_labels, test_loss = predict_part(
        step, feed, "test", batch_size, classes
    )
    train_probabilities, train_labels, _ = predict_part(step, feed, "train", batch_size, classes)
    predicted = test_probabilities.argmax(axis=1)
    return {
        "test_loss": test_loss,
        "test_accuracy": float(np.mean(predicted == test_labels)),
        "train_accuracy": float(np.mean(train_probabilities.argmax(axis=1) == train_labels)),
        "confusion_matrix": confusion_matrix(test_labels, predicted, classes),
    }


def _probabilities_and_loss(model, tta: str = "none"):
    """A step: (probabilities, mean compiled loss) of one batch, in inference mode."""
    if tta not in ("none", "flip"):
        raise ValueError(f"unknown test-time augmentation {tta!r}; choose none or flip")

    def step(pixels, targets):
        probabilities = predict_batch(model, pixels, tta)
        if tta == "flip":  # mean probabilities have no logits: the loss comes from them
            import keras

            loss = model.compute_loss(
                y=keras.ops.convert_to_tensor(targets),
                y_pred=keras.ops.convert_to_tensor(probabilities),
                training=False,
            )
            return probabilities, float(keras.ops.convert_to_numpy(loss))
        # test_on_batch's loss is a running mean until the metrics are reset.
        model.reset_metrics()
        logs = model.test_on_batch(pixels, targets, return_dict=True)
        return probabilities, float(logs["loss"])

    return step


def predict_part(step, feed, part: str, batch_size: int, classes: int):
    """``(probabilities (N, classes), label indices (N,), mean loss)`` of one part; a batch
    the device has no memory for is halved (``training.fitting_batches``)."""
    probabilities, labels, loss_sum = [], [], 0.0
    eye = np.eye(classes, dtype=np.float32)
    fitting = FittingBatches(batch_size)
    for pixels, label_indices in feed.evaluation_batches(part, batch_size):
        for (batch_probabilities, batch_loss), count in fitting.apply(
            step, pixels, eye[label_indices]
        ):
            probabilities.append(np.asarray(batch_probabilities, dtype=np.float32))
            loss_sum += float(batch_loss) * count  # evaluate weighs batches by size
        labels.append(label_indices)
    if not probabilities:
        return np.empty((0, classes), np.float32), np.empty(0, np.int64), float("nan")
    labels = np.concatenate(labels)
    return np.concatenate(probabilities), labels, loss_sum / len(labels)


def confusion_matrix(true_indices, predicted_indices, num_classes: int) -> list[list[int]]:
    """Rows are true labels, columns predicted labels (sorted label order)."""
    counts = np.bincount(
        np.asarray(true_indices) * num_classes + np.asarray(predicted_indices),
        minlength=num_classes * num_classes,
    )
    return counts.reshape(num_classes, num_classes).tolist()
