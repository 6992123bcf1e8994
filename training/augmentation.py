"""Random horizontal flips and shifts from cheap tensor ops, on any Keras backend.

Keras's ``RandomFlip`` and ``RandomTranslation`` took about 90 % of the CNN's
epoch on an H200 (keras-team/keras#23229, #23245): the translation builds an
affine transform and interpolates every pixel. A flip is a ``where`` between
the batch and its mirror on a random mask; a shift by whole pixels is a crop
of the reflect-padded batch at a random offset per image, gathered as rows. Both are
part of the model and run only in training, so a saved model needs nothing at
inference. Registered for loading: importing this module is what lets
``keras.saving.load_model`` (safe mode included) rebuild the layer.
"""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="catdog")
class FlipAndShift(keras.layers.Layer):
    """Each training image mirrored left to right at random (one in two), and shifted
    by up to ``max_shift`` of its height and width, edges reflected."""

    def __init__(self, max_shift: float = 0.1, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= max_shift < 0.5:
            raise ValueError(f"max_shift must be in [0, 0.5), received {max_shift}")
        self.max_shift, self.seed = max_shift, seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=None):
        if not training:
            return inputs
        return self._shift(self._flip(inputs))

    def _flip(self, images):
        draws = keras.random.uniform((ops.shape(images)[0], 1, 1, 1), seed=self.seed_generator)
        return ops.where(draws < 0.5, ops.flip(images, axis=2), images)

    def _shift(self, images):
        height, width = images.shape[1], images.shape[2]
        rows, columns = round(self.max_shift * height), round(self.max_shift * width)
        if rows == 0 and columns == 0:
            return images
        padding = [[0, 0], [rows, rows], [columns, columns], [0, 0]]
        padded = ops.pad(images, padding, mode="reflect")
        batch = ops.shape(images)[0]
        cropped = self._crop_rows(padded, batch, height, rows)
        # Columns are the rows of the transposed batch: one kind of gather for both.
        cropped = self._crop_rows(ops.transpose(cropped, (0, 2, 1, 3)), batch, width, columns)
        return ops.transpose(cropped, (0, 2, 1, 3))

    def _crop_rows(self, padded, batch, size: int, margin: int):
        """``size`` rows of each image from a random start in [0, 2 * margin]: one gather
        over the batch's rows (TensorFlow gathers these three times faster on a CPU than
        the per-element indices of ``take_along_axis``)."""
        if margin == 0:
            return padded
        starts = keras.random.randint((batch, 1), 0, 2 * margin + 1, seed=self.seed_generator)
        first_rows = ops.expand_dims(ops.arange(batch, dtype="int32") * (size + 2 * margin), 1)
        offsets = ops.expand_dims(ops.arange(size, dtype="int32"), 0)
        chosen = ops.reshape(first_rows + ops.cast(starts, "int32") + offsets, (-1,))
        every_row = ops.reshape(padded, (-1, *padded.shape[2:]))
        return ops.reshape(ops.take(every_row, chosen, axis=0), (-1, size, *padded.shape[2:]))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return super().get_config() | {"max_shift": self.max_shift, "seed": self.seed}
