"""What ``model.fit`` and the evaluation read: arrays in memory, or shards streamed.

Both feeds take the same catalogue, split and ``fetch``; they differ in what
the gpu worker holds. ``MemoryFeed`` copies every image once into a
training and a held-out array (sorted by path, the order these arrays always
had: the same seed gives the same model as before streaming). ``StreamFeed``
holds two windows of shards: training reads its part in windows shuffled
afresh each epoch (seeded by ``--seed`` and the epoch, so a resumed run reads
what an uninterrupted one would), and validation and evaluation read theirs
window after window.

Imports TensorFlow (for ``tf.data``): only the GPU worker imports this module.
"""

import numpy as np
import tensorflow as tf

from training.catalogue import batch_count, epoch_rng, path_order, plan_windows
from training.windows import batches, gather


class MemoryFeed:
    mode = "memory"

    def __init__(self, catalogue, fetch, parts: dict, label_indices, classes: int, batch_size):
        self.batch_size = batch_size
        self.orders = {name: path_order(catalogue.paths, part) for name, part in parts.items()}
        names = list(self.orders)
        arrays = gather(catalogue, fetch, [self.orders[name] for name in names])
        self.pixels = dict(zip(names, arrays))
        self.labels = {name: label_indices[order] for name, order in self.orders.items()}
        self.classes = classes

    def fit_arguments(self, first_epoch: int, epochs: int) -> dict:
        validation = "validation" if "validation" in self.pixels else "test"
        return {
            "x": self.pixels["train"],
            "y": one_hot(self.labels["train"], self.classes),
            "batch_size": self.batch_size,
            "validation_data": (
                self.pixels[validation],
                one_hot(self.labels[validation], self.classes),
            ),
        }

    def evaluation_batches(self, part: str, batch_size: int):
        pixels, labels = self.pixels[part], self.labels[part]
        for start in range(0, len(pixels), batch_size):
            yield pixels[start : start + batch_size], labels[start : start + batch_size]

    def describe(self) -> dict:
        return {"mode": self.mode}


class StreamFeed:
    mode = "stream"

    def __init__(self, catalogue, fetch, parts, label_indices, classes, batch_size, window_shards,
                 seed):  # fmt: skip
        self.catalogue, self.fetch = catalogue, fetch
        self.parts, self.label_indices = parts, label_indices
        self.classes, self.batch_size = classes, batch_size
        self.window_shards, self.seed = window_shards, seed

    def _batches(self, passes, batch_size):
        return batches(self.catalogue, self.fetch, passes, batch_size, self.label_indices)

    def _training_batches(self, first_epoch: int, epochs: int):
        """Every remaining epoch in one stream: its windows, shuffled per epoch."""
        passes = [
            plan_windows(
                self.catalogue, self.parts["train"], self.window_shards, epoch_rng(self.seed, epoch)
            )
            for epoch in range(first_epoch, epochs)
        ]
        for pixels, labels in self._batches(passes, self.batch_size):
            yield pixels, one_hot(labels, self.classes)

    def _in_order(self, part: str, batch_size: int):
        windows = plan_windows(self.catalogue, self.parts[part], self.window_shards)
        return self._batches([windows], batch_size)

    def _dataset(self, generator_function, batches: int):
        signature = (
            tf.TensorSpec((None, *self.catalogue.image_shape), tf.uint8),
            tf.TensorSpec((None, self.classes), tf.float32),
        )
        dataset = tf.data.Dataset.from_generator(generator_function, output_signature=signature)
        dataset = dataset.apply(tf.data.experimental.assert_cardinality(batches))
        return dataset.prefetch(2)  # the next batches are made while a step runs

    def fit_arguments(self, first_epoch: int, epochs: int) -> dict:
        """One stream over every remaining epoch; validation read anew each epoch.

        (Keras opens the validation stream once per epoch; an iterator it opens
        ahead is never read from, so no shard is fetched for it.)
        """
        validation = "validation" if "validation" in self.parts else "test"
        steps = batch_count(len(self.parts["train"]), self.batch_size)

        def validation_batches():
            for pixels, labels in self._in_order(validation, self.batch_size):
                yield pixels, one_hot(labels, self.classes)

        return {
            "x": self._dataset(
                lambda: self._training_batches(first_epoch, epochs), steps * (epochs - first_epoch)
            ),
            "steps_per_epoch": steps,
            "validation_data": self._dataset(
                validation_batches, batch_count(len(self.parts[validation]), self.batch_size)
            ),
            "shuffle": False,  # the windows are the shuffle
        }

    def evaluation_batches(self, part: str, batch_size: int):
        return self._in_order(part, batch_size)

    def describe(self) -> dict:
        largest = int(self.catalogue.counts.max())
        return {
            "mode": self.mode,
            "window_shards": self.window_shards,
            "window_images": self.window_shards * largest,
            "window_bytes": self.window_shards * largest * self.catalogue.image_bytes,
        }


def one_hot(label_indices: np.ndarray, classes: int) -> np.ndarray:
    return np.eye(classes, dtype=np.float32)[label_indices]
