"""What ``model.fit`` and the evaluation read: arrays in memory, or shards streamed.

Both feeds take the same catalogue, split and ``fetch``; they differ in what
the gpu worker holds. ``MemoryFeed`` copies every image once into a
training and a held-out array (sorted by path, the order these arrays always
had: the same seed gives the same model as before streaming). ``StreamFeed``
holds two windows of shards: training reads its part in windows shuffled
afresh each epoch (seeded by ``--seed`` and the epoch, so a resumed run reads
what an uninterrupted one would), and validation and evaluation read theirs
window after window.

Backend-neutral: training reads a Python generator (made ahead in a thread,
``training.prefetch``), validation a ``keras.utils.PyDataset`` that Keras
reads again each epoch, on TensorFlow, JAX or PyTorch alike. Only the GPU
worker imports this module.
"""

import keras
import numpy as np

from catdog_queue.training.catalogue import batch_count, epoch_rng, path_order, plan_windows
from catdog_queue.training.prefetch import InputClock, prefetched
from catdog_queue.training.windows import batches, gather


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
        self.input_clock = InputClock()

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

    def fit_arguments(self, first_epoch: int, epochs: int) -> dict:
        """One stream over every remaining epoch; validation read anew each epoch.

        (Keras reads the validation batches from the first each epoch; on
        TensorFlow it reads the first two once more to learn their shapes.)
        """
        validation = "validation" if "validation" in self.parts else "test"
        steps = batch_count(len(self.parts["train"]), self.batch_size)

        def validation_pass():
            for pixels, labels in self._in_order(validation, self.batch_size):
                yield pixels, one_hot(labels, self.classes)

        training = self._training_batches(first_epoch, epochs)
        return {
            "x": prefetched(training, depth=2, clock=self.input_clock),
            "steps_per_epoch": steps,
            "validation_data": SequentialBatches(
                validation_pass, batch_count(len(self.parts[validation]), self.batch_size)
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


HEAD_BATCHES = 2  # what Keras on TensorFlow reads ahead of a pass to learn its shapes


class SequentialBatches(keras.utils.PyDataset):
    """One pass of batches that Keras reads in order, from the first, as often as it likes.

    A pass is a stream of windows, not an array: batch ``i`` is only ever
    asked for after batch ``i - 1``, and asking for batch 0 starts a new
    pass. Once only: Keras on TensorFlow first reads two batches to learn
    their shapes, then starts over; those are handed out again, so no shard
    is read twice in a pass.
    """

    def __init__(self, make_pass, count: int):
        super().__init__()
        self.make_pass, self.count = make_pass, count
        self._stream, self._head, self._next = None, [], 0
        # Only Keras's TensorFlow adapter reads ahead for shapes (get_tf_dataset).
        self._may_replay = keras.backend.backend() == "tensorflow"
        self._replaying = False

    @property
    def num_batches(self) -> int:
        return self.count

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int):
        if index == 0:
            self._start_over()
        if self._replaying and index < len(self._head):
            return self._head[index]
        if index != self._next:
            raise IndexError(f"batches are read in order: asked for {index}, next is {self._next}")
        batch = next(self._stream)
        if self._may_replay and index < HEAD_BATCHES:
            self._head.append(batch)
        self._next += 1
        return batch

    def _start_over(self) -> None:
        if self._may_replay and self._stream is not None and self._next <= HEAD_BATCHES:
            self._may_replay, self._replaying = False, True
            return
        self._may_replay = self._may_replay and self._stream is None  # the shapes' read only
        self._stream, self._head, self._next = iter(self.make_pass()), [], 0
        self._replaying = False
