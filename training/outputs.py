"""What a training run leaves: the saved models, the per-epoch history, the held-out digest."""

import hashlib
import os

import numpy as np

from catdog_queue.shared.model_metadata import write_metadata


def held_out_digest(paths: list[str], test_indices) -> str:
    """A fingerprint of which files were held out: equal digests, equal held-out sets."""
    held_out = sorted(paths[index] for index in test_indices)
    text = "\n".join(path.encode("utf-8", "surrogateescape").hex() for path in held_out)
    return hashlib.sha256(text.encode()).hexdigest()


def best_epoch(per_epoch: list[dict]) -> int | None:
    """The 1-based epoch with the lowest validation loss (what early stopping keeps)."""
    losses = [row.get("val_loss") for row in per_epoch]
    if not losses or None in losses:
        return None
    return int(np.argmin(losses)) + 1


def save_model(model, output_dir: str, options) -> None:
    """``model.keras`` and ``model.h5``, each carrying its labels and image size."""
    metadata = {
        "labels": list(options.labels),
        "image_size": int(model.input_shape[1]),
        "model": options.model,
        "optimizer": options.optimizer,
        "seed": options.seed,
    }
    for name in ("model.keras", "model.h5"):
        path = os.path.join(output_dir, name)
        model.save(path)
        write_metadata(path, metadata)


def history_per_epoch(history: dict) -> list[dict]:
    epochs = len(next(iter(history.values()), []))
    return [
        {name: float(values[epoch]) for name, values in history.items()} for epoch in range(epochs)
    ]
