"""Pretrained Keras application backbones with a new classifier on top.

The saved model takes raw uint8 pixels like the MLP and the CNN: each
backbone's own preprocessing is a layer of the model (``Rescaling``, no
``Lambda``), so safe-mode loading works and ``predict`` needs nothing else.
As in Keras's transfer-learning guide, the backbone runs in inference mode
(``training=False``): its batch-norm statistics stay as pretrained even when
its top layers are fine-tuned.

Keras is imported inside the functions, like ``training.models``.
"""

import os

from catdog_queue.shared.options import BACKBONES

# name: (keras.applications constructor, preprocessing as Rescaling(scale, offset)).
# MobileNetV2 wants [-1, 1]; EfficientNet rescales and normalises inside itself
# and wants 0-255 floats, so its layer only casts.
_APPLICATIONS = {
    "mobilenet_v2": ("MobileNetV2", 1 / 127.5, -1.0),
    "efficientnet_b0": ("EfficientNetB0", 1.0, 0.0),
}


def make_backbone_model(name, input_shape, num_classes, weights=None, fine_tune=0, policy=None):
    """uint8 pixels -> preprocessing -> flips -> backbone (pooled) -> dropout -> softmax.

    ``weights`` is ``"imagenet"`` (downloaded by Keras, or found in its
    cache), ``None`` (random) or the path of a ``.h5`` file of the backbone's
    weights without its top. ``fine_tune`` unfreezes the top N layers of the
    backbone (batch norm excepted); 0 trains the classifier only.
    """
    import keras
    from keras import layers

    from catdog_queue.training.augmentation import FlipAndShift

    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; choose one of {', '.join(BACKBONES)}")
    if num_classes < 2:
        raise ValueError(f"a classifier needs at least 2 classes, received {num_classes}")
    constructor, scale, offset = _APPLICATIONS[name]
    backbone = _load_backbone(name, constructor, tuple(input_shape), weights, policy)
    set_trainable_top(backbone, fine_tune)
    dtype = {"dtype": policy} if policy else {}
    inputs = keras.Input(shape=input_shape, dtype="uint8", name="pixels")
    x = layers.Rescaling(scale, offset=offset, name="preprocess", **dtype)(inputs)
    x = FlipAndShift(max_shift=0.0, name="flip", **dtype)(x)  # flips only, cheaply
    x = backbone(x, training=False)
    x = layers.Dropout(0.2, name="dropout", **dtype)(x)
    outputs = layers.Dense(
        num_classes, activation="softmax", name="probabilities", dtype="float32"
    )(x)
    return keras.Model(inputs, outputs, name=name)


def _load_backbone(name, constructor, input_shape, weights, policy):
    import keras

    if policy:  # nested application layers take the policy from the global setting
        previous = keras.config.dtype_policy()
        keras.config.set_dtype_policy(policy)
    try:
        return getattr(keras.applications, constructor)(
            include_top=False, weights=weights, input_shape=input_shape, pooling="avg"
        )
    except Exception as error:
        if weights is None:
            raise
        raise weights_error(name, weights, error) from None
    finally:
        if policy:
            keras.config.set_dtype_policy(previous)


def weights_error(name: str, weights, error: Exception) -> ValueError:
    """One line that says what went wrong with the weights and how to go on."""
    reason = " ".join(str(error).split())[:300]
    if weights == "imagenet" and ("URL fetch failure" in reason or isinstance(error, OSError)):
        return ValueError(
            f"cannot download the ImageNet weights of {name} on the gpu worker ({reason});"
            " pass --weights PATH (the .h5 file Keras saves under ~/.keras/models, copied"
            " from a machine with network) or --weights none"
        )
    source = "ImageNet weights" if weights == "imagenet" else f"weights file {weights}"
    return ValueError(
        f"the {source} do not fit {name} ({type(error).__name__}: {reason}); pass the"
        f" .h5 weights of {name} without its top, or --weights none"
    )


def set_trainable_top(backbone, fine_tune: int) -> None:
    """Freeze the backbone, then unfreeze its top ``fine_tune`` layers but batch norm."""
    from keras import layers

    if fine_tune < 0:
        raise ValueError(f"fine_tune must be 0 or more layers, received {fine_tune}")
    backbone.trainable = fine_tune > 0
    for position, layer in enumerate(backbone.layers):
        top = position >= len(backbone.layers) - fine_tune
        layer.trainable = top and not isinstance(layer, layers.BatchNormalization)


def local_weights(options, store, folder: str):
    """What Keras gets as ``weights``: "imagenet", None, or an uploaded file written here."""
    if options.weights == "none" or options.model not in BACKBONES:
        return None
    if options.weights == "imagenet":
        return "imagenet"
    kind = ".weights.h5" if options.weights.endswith(".weights.h5") else ".h5"
    path = os.path.join(folder, f"backbone{kind}")
    with open(path, "wb") as weights_file:
        weights_file.write(store.get_weights(options.weights))
    return path
