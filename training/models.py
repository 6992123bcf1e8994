"""Model builders and optimizers (GPU side).

Keras is imported inside the functions, so importing this module is cheap;
the names the client needs (models, optimizers, defaults) live in
``shared.options``.
"""

from catdog_queue.shared.options import (
    BACKBONES,
    DEFAULT_LEARNING_RATES,
    MODELS,
    OPTIMIZERS,
    SCHEDULES,
    check_learning_rate,
)

CNN_FILTERS = (32, 64, 128, 256)
KERAS_BATCH_NORM_MOMENTUM = 0.99
# Batch normalisation's moving statistics, which inference uses, start at mean 0
# and variance 1 and keep momentum**steps of that start at the end of training.
# Keras's 0.99 forgets it only after about a thousand steps, and the variances of
# the first convolution over photographs are about a hundred times smaller than 1
# (median 0.007 on the Kaggle images at 64 px). After a shorter run (1,600 images
# at the defaults is 250 steps: 8 % of the start left) the moving variance is
# twelve times the true one, every block shrinks its activations at inference,
# and the model calls every image the same label.
# A shorter run takes a momentum that leaves e**-STEPS_FORGETTING of the start.
STEPS_FORGETTING = 10


def make_model(
    model_name: str, input_shape: tuple, num_classes: int, mixed_precision=False, weights=None,
    fine_tune=0, total_steps=None,
):  # fmt: skip
    """``weights`` and ``fine_tune`` are for the pretrained backbones (``training.backbones``);
    ``total_steps`` (of the whole training run) sets the CNN's batch-norm momentum."""
    policy = "mixed_float16" if mixed_precision else None
    if model_name == "mlp":
        return make_mlp(input_shape, num_classes)
    if model_name == "cnn":
        momentum = batch_norm_momentum(total_steps)
        return make_cnn(input_shape, num_classes, dtype_policy=policy, norm_momentum=momentum)
    if model_name in BACKBONES:
        from catdog_queue.training.backbones import make_backbone_model

        return make_backbone_model(
            model_name, input_shape, num_classes, weights, fine_tune, policy=policy
        )
    raise ValueError(f"unknown model {model_name!r}; choose one of {', '.join(MODELS)}")


def make_mlp(input_shape: tuple, num_classes: int):
    """The tutorial's MLP: flattened pixels -> 768 -> 384 -> classes.

    Input is raw uint8 pixels of shape ``input_shape`` (S, S, 3); the scaling
    to [0, 1] the tutorial forgot lives inside the model, so a saved model
    needs no preprocessing beyond the resize.
    """
    import keras
    from keras import layers

    if num_classes < 2:
        raise ValueError(f"a classifier needs at least 2 classes, received {num_classes}")
    initializer = "random_uniform"
    inputs = keras.Input(shape=input_shape, dtype="uint8", name="pixels")
    x = layers.Rescaling(1.0 / 255, name="rescale")(inputs)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(768, activation="relu", kernel_initializer=initializer, name="dense_768")(x)
    x = layers.Dense(384, activation="relu", kernel_initializer=initializer, name="dense_384")(x)
    outputs = layers.Dense(
        num_classes,
        activation="softmax",
        kernel_initializer=initializer,
        name="probabilities",
    )(x)
    return keras.Model(inputs, outputs, name="mlp")


def batch_norm_momentum(total_steps: int | None) -> float:
    """Keras's momentum for runs of a thousand steps or more (or unknown length);
    for shorter ones, one that forgets the moving statistics' start by the end."""
    if total_steps is None:
        return KERAS_BATCH_NORM_MOMENTUM
    if not isinstance(total_steps, int) or total_steps < 1:
        raise ValueError(
            f"total_steps must be a whole number of at least 1, received {total_steps!r}"
        )
    return max(0.0, min(KERAS_BATCH_NORM_MOMENTUM, 1.0 - STEPS_FORGETTING / total_steps))


def make_cnn(
    input_shape: tuple, num_classes: int, filters=CNN_FILTERS, dropout=0.3, dtype_policy=None,
    norm_momentum=KERAS_BATCH_NORM_MOMENTUM,
):  # fmt: skip
    """A small convolutional network for raw uint8 pixels.

    Augmentation (horizontal flips, shifts of up to a tenth of the image, edges
    reflected) is a part of the model, so it runs wherever training runs and
    is skipped at inference: ``FlipAndShift`` (cheap tensor ops, fast on every
    backend and device) is active only when training.
    ``dtype_policy="mixed_float16"`` computes in float16 on GPUs (the softmax
    stays float32, for stable probabilities). ``norm_momentum``: see
    ``batch_norm_momentum``.
    """
    import keras
    from keras import layers

    from catdog_queue.training.augmentation import FlipAndShift

    if num_classes < 2:
        raise ValueError(f"a classifier needs at least 2 classes, received {num_classes}")
    inputs = keras.Input(shape=input_shape, dtype="uint8", name="pixels")
    policy = {"dtype": dtype_policy} if dtype_policy else {}
    x = layers.Rescaling(1.0 / 255, name="rescale", **policy)(inputs)
    x = FlipAndShift(max_shift=0.1, name="augment", **policy)(x)
    for block, width in enumerate(filters, start=1):
        x = layers.Conv2D(width, 3, padding="same", use_bias=False, name=f"conv{block}", **policy)(
            x
        )
        x = layers.BatchNormalization(momentum=norm_momentum, name=f"norm{block}", **policy)(x)
        x = layers.Activation("relu", name=f"relu{block}", **policy)(x)
        x = layers.MaxPooling2D(name=f"pool{block}", **policy)(x)
    x = layers.GlobalAveragePooling2D(name="average", **policy)(x)
    x = layers.Dropout(dropout, name="dropout", **policy)(x)
    outputs = layers.Dense(
        num_classes, activation="softmax", name="probabilities", dtype="float32"
    )(x)
    return keras.Model(inputs, outputs, name="cnn")


def make_optimizer(
    name: str, learning_rate: float | None = None, schedule="constant", total_steps=None
):
    """A fresh optimizer of the named kind: never one left over from another run.

    ``schedule="cosine"`` lowers the learning rate along a cosine to zero over
    ``total_steps``: the last epochs then settle instead of jumping about.
    """
    import keras

    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")
    if learning_rate is None:
        learning_rate = DEFAULT_LEARNING_RATES[name]
    check_learning_rate(learning_rate)
    if schedule == "cosine":
        if not total_steps or total_steps < 1:
            raise ValueError(f"a cosine schedule needs total_steps >= 1, received {total_steps}")
        learning_rate = keras.optimizers.schedules.CosineDecay(learning_rate, total_steps)
    elif schedule != "constant":
        raise ValueError(f"unknown schedule {schedule!r}; choose one of {', '.join(SCHEDULES)}")
    classes = {
        "sgd": keras.optimizers.SGD,
        "rmsprop": keras.optimizers.RMSprop,
        "adagrad": keras.optimizers.Adagrad,
        "adam": keras.optimizers.Adam,
    }
    return classes[name](learning_rate=learning_rate)


def compile_model(
    model, optimizer, num_classes: int, jit_compile="auto", steps_per_execution: int = 1
) -> None:
    """Binary cross-entropy on one-hot targets for two labels (as the tutorial),
    categorical cross-entropy for more. ``jit_compile`` and ``steps_per_execution``:
    see ``training.execution``; Keras turns XLA off itself for a model that cannot
    take it, so ``model.jit_compile`` afterwards says what runs."""
    import keras

    loss = "binary_crossentropy" if num_classes == 2 else "categorical_crossentropy"
    # Explicit, so Keras does not pick binary accuracy for the binary loss.
    metrics = [keras.metrics.CategoricalAccuracy(name="accuracy")]
    model.compile(
        optimizer=optimizer, loss=loss, metrics=metrics, jit_compile=jit_compile,
        steps_per_execution=steps_per_execution,
    )  # fmt: skip
