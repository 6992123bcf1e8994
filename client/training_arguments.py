"""The options every training job takes (train and compare): their defaults and choices are
those of ``shared.options``, written there once."""

import argparse
from dataclasses import fields

from catdog_queue.client.argument_types import fraction, image_size, positive_int, seed
from catdog_queue.shared.options import (
    BACKBONES,
    DATA_MODES,
    DEVICES,
    MAX_IMAGE_SIZE,
    MODEL_DEFAULTS,
    MODELS,
    SCHEDULES,
    TTA_MODES,
    TrainingOptions,
)

# The defaults the typed options declare: the command line repeats none of them.
TRAINING = {field.name: field.default for field in fields(TrainingOptions)}


def _per_model(setting: str) -> str:
    """Each model's default for ``setting``, e.g. ``sgd (mlp), adam (cnn, mobilenet_v2)``."""
    models_by_value = {}
    for model, defaults in MODEL_DEFAULTS.items():
        models_by_value.setdefault(defaults[setting], []).append(model)
    return ", ".join(f"{value} ({', '.join(models)})" for value, models in models_by_value.items())


OPTIMIZER_DEFAULTS = _per_model("optimizer")
SCHEDULE_DEFAULTS = _per_model("schedule")


def add_training_options(command: argparse.ArgumentParser) -> None:
    defaults = "; ".join(
        f"{name}: {settings['image_size']} px, {settings['epochs']} epochs"
        for name, settings in MODEL_DEFAULTS.items()
    )
    command.add_argument(
        "--model", choices=MODELS, default=TRAINING["model"], help=f"defaults {defaults}"
    )
    command.add_argument("--epochs", type=positive_int, help="default per model")
    command.add_argument(
        "--image-size",
        type=image_size,
        help=f"pixels per side, at most {MAX_IMAGE_SIZE}; per model",
    )
    command.add_argument("--batch-size", type=positive_int, default=TRAINING["batch_size"])
    command.add_argument(
        "--seed", type=seed, default=TRAINING["seed"], help="fixes the split and the weights"
    )
    command.add_argument(
        "--test-size", type=fraction, default=TRAINING["test_size"], help="held-out fraction"
    )
    command.add_argument(
        "--device",
        choices=DEVICES,
        default=TRAINING["device"],
        help="auto: a GPU if the gpu worker has one; cpu: force the CPU",
    )
    command.add_argument(
        "--mixed-precision",
        action="store_true",
        help="cnn on a GPU: compute in float16 (ignored on CPUs; metrics say if used)",
    )
    command.add_argument(
        "--schedule",
        choices=SCHEDULES,
        help="learning rate over time: constant or cosine decay to zero; default:"
        f" {SCHEDULE_DEFAULTS}",
    )
    command.add_argument(
        "--patience",
        type=positive_int,
        help="stop after N epochs without a better validation loss (10%% of the training"
        " images); the best epoch's weights are kept",
    )
    command.add_argument(
        "--data-mode",
        choices=DATA_MODES,
        default=TRAINING["data_mode"],
        help="memory: the gpu worker holds every image; stream: it reads shards from Redis a"
        " window at a time; auto: memory up to CATDOG_MEMORY_BUDGET_MB of pixels (1024)",
    )
    command.add_argument(
        "--weights",
        metavar="imagenet|none|PATH",
        help=f"{', '.join(BACKBONES)}: pretrained ImageNet weights (default; downloaded by the"
        " gpu worker), random ones, or a .h5 weights file of the backbone without its top",
    )
    command.add_argument(
        "--fine-tune",
        type=int,
        metavar="N",
        help="with a pretrained model: also train its top N layers (batch norm stays frozen);"
        " default 0, the backbone frozen; the default learning rate is then a tenth",
    )
    add_tta(command, "the held-out evaluation's (and --predict's) probabilities")


def add_tta(command: argparse.ArgumentParser, what: str) -> None:
    command.add_argument(
        "--tta",
        choices=TTA_MODES,
        default=TRAINING["tta"],
        help=f"test-time augmentation: flip averages {what} with its mirror's (twice the work)",
    )
