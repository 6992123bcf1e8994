"""What the command line says about each typed option: its help, choices and value check.

``TrainingOptions`` and ``PredictOptions`` (``shared.options``) declare each option's
default and bounds; the tables below add, keyed by field name, how ``submit.py`` shows
it. ``client.training_arguments`` builds the argparse options from the two together, so
no default, choice or help text of these options is written anywhere else. No argparse
here: the workers import ``shared``, and the converters that raise argparse's errors
stay in ``client.argument_types``, named here by a string.
"""

from dataclasses import dataclass

from catdog_queue.shared.options import (
    BACKBONES,
    DATA_MODES,
    DEFAULT_LEARNING_RATES,
    DEVICES,
    MAX_IMAGE_SIZE,
    MODEL_DEFAULTS,
    MODELS,
    OPTIMIZERS,
    SCHEDULES,
    TTA_MODES,
)
from catdog_queue.shared.settings import DEFAULT_MEMORY_BUDGET_MB


@dataclass(frozen=True)
class CommandLineOption:
    """One field of the typed options as ``--field-name``; its default is the field's own."""

    help: str
    choices: tuple[str, ...] | None = None
    # A converter of client.argument_types ("positive_int", "seed"...); None keeps the text.
    type: str | None = None
    metavar: str | None = None
    # Left out, the option is None so that TrainingOptions.for_model picks the model's value.
    per_model: bool = False


def _per_model(setting: str) -> str:
    """Each model's default for ``setting``, e.g. ``sgd (mlp), adam (cnn, mobilenet_v2)``."""
    models_by_value = {}
    for model, defaults in MODEL_DEFAULTS.items():
        models_by_value.setdefault(defaults[setting], []).append(model)
    return ", ".join(f"{value} ({', '.join(models)})" for value, models in models_by_value.items())


def _model_sizes() -> str:
    return "; ".join(
        f"{name}: {settings['image_size']} px, {settings['epochs']} epochs"
        for name, settings in MODEL_DEFAULTS.items()
    )


def _tta_help(what: str) -> str:
    return f"test-time augmentation: flip averages {what} with its mirror's (twice the work)"


# Each optimizer's own learning rate, as `compare --learning-rates` also quotes it.
RATES = ", ".join(f"{name} {rate}" for name, rate in DEFAULT_LEARNING_RATES.items())

# In the order --help lists them.
TRAINING_COMMAND_LINE = {
    "optimizer": CommandLineOption(
        f"default: {_per_model('optimizer')}", choices=OPTIMIZERS, per_model=True
    ),
    "learning_rate": CommandLineOption(
        f"default per optimizer: {RATES}", type="float", per_model=True
    ),
    "model": CommandLineOption(f"defaults {_model_sizes()}", choices=MODELS),
    "epochs": CommandLineOption("default per model", type="positive_int", per_model=True),
    "image_size": CommandLineOption(
        f"pixels per side, at most {MAX_IMAGE_SIZE}; per model", type="image_size", per_model=True
    ),
    "batch_size": CommandLineOption(
        "images per training step: the global batch, split across the devices that train",
        type="positive_int",
    ),
    "seed": CommandLineOption("fixes the split and the weights", type="seed"),
    "test_size": CommandLineOption("held-out fraction", type="fraction"),
    "device": CommandLineOption(
        "auto: a GPU if the gpu worker has one; cpu: force the CPU", choices=DEVICES
    ),
    "mixed_precision": CommandLineOption(
        "cnn on a GPU: compute in float16 (ignored on CPUs; metrics say if used)"
    ),
    "schedule": CommandLineOption(
        "learning rate over time: constant or cosine decay to zero; default:"
        f" {_per_model('schedule')}",
        choices=SCHEDULES,
        per_model=True,
    ),
    "patience": CommandLineOption(
        "stop after N epochs without a better validation loss (10% of the training images);"
        " the best epoch's weights are kept",
        type="positive_int",
    ),
    "data_mode": CommandLineOption(
        "memory: the gpu worker holds every image; stream: it reads shards from Redis a window"
        " at a time; auto: memory up to CATDOG_MEMORY_BUDGET_MB of pixels"
        f" ({DEFAULT_MEMORY_BUDGET_MB})",
        choices=DATA_MODES,
    ),
    "weights": CommandLineOption(
        f"{', '.join(BACKBONES)}: pretrained ImageNet weights (default; downloaded by the gpu"
        " worker), random ones, or a .h5 weights file of the backbone without its top",
        metavar="imagenet|none|PATH",
        per_model=True,
    ),
    "fine_tune": CommandLineOption(
        "with a pretrained model: also train its top N layers (batch norm stays frozen);"
        " default 0, the backbone frozen; the default learning rate is then a tenth",
        type="int",
        metavar="N",
        per_model=True,
    ),
    "tta": CommandLineOption(
        _tta_help("the held-out evaluation's (and --predict's) probabilities"), choices=TTA_MODES
    ),
}

PREDICT_COMMAND_LINE = {
    "batch_size": CommandLineOption("images the model classifies at a time", type="positive_int"),
    "tta": CommandLineOption(_tta_help("each image's probabilities"), choices=TTA_MODES),
}
