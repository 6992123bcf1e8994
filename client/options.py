"""Turn command-line arguments into the options a ``catdog.train`` task receives."""

from shared.models import DEFAULT_LEARNING_RATES, MODEL_DEFAULTS


class UsageError(ValueError):
    """Options that cannot work together; the message says how to fix them."""


def image_size(args) -> int:
    return args.image_size or MODEL_DEFAULTS[args.model]["image_size"]


def training_options(args, labels: list[str], optimizer=None, learning_rate=None) -> dict:
    """Every option spelled out: the model's defaults fill what the user left out."""
    defaults = MODEL_DEFAULTS[args.model]
    optimizer = optimizer or defaults["optimizer"]
    if learning_rate is None:
        learning_rate = DEFAULT_LEARNING_RATES[optimizer]
    if learning_rate <= 0:
        raise UsageError(f"learning rate must be positive, received {learning_rate}")
    return {
        "model": args.model,
        "optimizer": optimizer,
        "learning_rate": learning_rate,
        "epochs": args.epochs or defaults["epochs"],
        "batch_size": args.batch_size,
        "image_size": image_size(args),
        "seed": args.seed,
        "test_size": args.test_size,
        "patience": args.patience,
        "device": getattr(args, "device", "auto"),
        "mixed_precision": getattr(args, "mixed_precision", False),
        "schedule": getattr(args, "schedule", None) or defaults["schedule"],
        "labels": labels,
    }
