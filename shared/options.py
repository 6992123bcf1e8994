"""The options a job's tasks receive, declared once, with their defaults and bounds.

A ``TrainingOptions`` travels as JSON inside each ``catdog.train`` message, so
it is checked twice: on the client, where a bad value is a usage error, and on
the worker, where it may come from anyone who holds the broker password. The
bounds keep a crafted message from asking a worker for absurd amounts of
memory (``np.empty((N, S, S, 3))`` with a huge ``S``).
"""

import math
import re
from dataclasses import asdict, dataclass, fields

from catdog_queue.shared.layout import LAYOUTS

# Keras application backbones, pretrained on ImageNet, with a new classifier on top.
BACKBONES = ("mobilenet_v2", "efficientnet_b0")
MODELS = ("mlp", "cnn", *BACKBONES)
OPTIMIZERS = ("sgd", "rmsprop", "adagrad", "adam")
SCHEDULES = ("constant", "cosine")
DEVICES = ("auto", "cpu")
DATA_MODES = ("auto", "memory", "stream")
# Test-time augmentation: "flip" averages the probabilities of each image and its mirror.
TTA_MODES = ("none", "flip")
DEFAULT_LEARNING_RATES = {"sgd": 0.01, "rmsprop": 0.001, "adagrad": 0.01, "adam": 0.001}
# What each model trains best with when the user does not say. A backbone's
# learning rate applies with its own optimizer only; fine-tuning (unfrozen
# pretrained layers) takes a tenth of it, so the first steps of a new
# classifier do not wreck what the backbone learnt.
MODEL_DEFAULTS = {
    "mlp": {"optimizer": "sgd", "image_size": 32, "epochs": 20, "schedule": "constant"},
    "cnn": {"optimizer": "adam", "image_size": 64, "epochs": 25, "schedule": "cosine"},
    "mobilenet_v2": {
        "optimizer": "adam", "learning_rate": 0.001, "image_size": 160, "epochs": 10,
        "schedule": "cosine", "weights": "imagenet",
    },
    "efficientnet_b0": {
        "optimizer": "adam", "learning_rate": 0.001, "image_size": 224, "epochs": 10,
        "schedule": "cosine", "weights": "imagenet",
    },
}  # fmt: skip
BACKBONE_MIN_IMAGE_SIZE = 32  # Keras applications refuse smaller inputs
# ``--weights PATH`` travels as the file's digest and kind; the client stores its bytes.
UPLOADED_WEIGHTS = re.compile(r"^sha256:[0-9a-f]{64}(?:\.weights)?\.h5$")

MAX_IMAGE_SIZE = 512  # pixels per side: 512x512x3 bytes per image in every shard
MAX_EPOCHS = 1_000_000
MAX_BATCH_SIZE = 65_536
MAX_LABELS = 1_000
MAX_LABEL_LENGTH = 200
MAX_SEED = 2**32 - 1  # NumPy and Keras seeds are unsigned 32-bit
MAX_FINE_TUNE_LAYERS = 10_000


class OptionsError(ValueError):
    """An option out of range or of the wrong type; the message names it and the fix."""


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise OptionsError(message)


def _whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_image_size(image_size) -> int:
    _require(
        _whole(image_size) and 1 <= image_size <= MAX_IMAGE_SIZE,
        f"image size must be a whole number of pixels from 1 to {MAX_IMAGE_SIZE},"
        f" received {image_size!r}",
    )
    return image_size


def check_learning_rate(rate) -> float:
    _require(
        isinstance(rate, int | float) and not isinstance(rate, bool) and math.isfinite(rate)
        and rate > 0,
        f"learning rate must be a positive number, received {rate!r}",
    )  # fmt: skip
    return rate


def check_labels(labels) -> tuple[str, ...]:
    _require(
        isinstance(labels, list | tuple) and 2 <= len(labels) <= MAX_LABELS,
        f"a classifier needs 2 to {MAX_LABELS} labels, received {labels!r:.200}",
    )
    _require(
        all(isinstance(label, str) and 0 < len(label) <= MAX_LABEL_LENGTH for label in labels),
        f"labels must be non-empty names of at most {MAX_LABEL_LENGTH} characters",
    )
    _require(len(set(labels)) == len(labels), f"labels must be unique, received {labels!r:.200}")
    return tuple(labels)


def _check_fraction(name: str, value) -> None:
    _require(
        isinstance(value, int | float) and not isinstance(value, bool) and 0.0 < value < 1.0,
        f"{name} must be a fraction between 0 and 1, received {value!r}",
    )


def _check_choice(name: str, value, choices) -> None:
    _require(value in choices, f"unknown {name} {value!r}; choose one of {', '.join(choices)}")


@dataclass(frozen=True)
class TrainingOptions:
    """Everything one training run needs besides its data, spelled out."""

    labels: tuple[str, ...]
    layout: str = "names"  # where labels come from: file names or folders (shared.layout)
    model: str = "mlp"
    optimizer: str = "sgd"
    learning_rate: float = 0.01
    epochs: int = 20
    batch_size: int = 128
    image_size: int = 32
    seed: int = 12345
    test_size: float = 0.25
    validation_size: float = 0.1
    patience: int | None = None
    device: str = "auto"
    mixed_precision: bool = False
    schedule: str = "constant"
    data_mode: str = "auto"
    weights: str = "none"
    fine_tune: int = 0
    tta: str = "none"  # the held-out evaluation's (and --predict's) test-time augmentation

    def __post_init__(self):
        object.__setattr__(self, "labels", check_labels(self.labels))
        _check_choice("layout", self.layout, LAYOUTS)
        _check_choice("test-time augmentation", self.tta, TTA_MODES)
        _check_choice("model", self.model, MODELS)
        _check_choice("data mode", self.data_mode, DATA_MODES)
        _check_backbone_options(self)
        _check_choice("optimizer", self.optimizer, OPTIMIZERS)
        _check_choice("schedule", self.schedule, SCHEDULES)
        _check_choice("device", self.device, DEVICES)
        check_learning_rate(self.learning_rate)
        for name, limit in (("epochs", MAX_EPOCHS), ("batch_size", MAX_BATCH_SIZE)):
            value = getattr(self, name)
            _require(
                _whole(value) and 1 <= value <= limit,
                f"{name} must be a whole number from 1 to {limit}, received {value!r}",
            )
        check_image_size(self.image_size)
        _require(
            _whole(self.seed) and 0 <= self.seed <= MAX_SEED,
            f"seed must be a whole number from 0 to {MAX_SEED}, received {self.seed!r}",
        )
        _check_fraction("test size", self.test_size)
        _check_fraction("validation size", self.validation_size)
        _require(
            self.patience is None or (_whole(self.patience) and self.patience >= 1),
            f"patience must be a whole number of epochs of at least 1, received {self.patience!r}",
        )
        _require(isinstance(self.mixed_precision, bool), "mixed_precision must be true or false")

    @classmethod
    def for_model(cls, labels, model: str = "mlp", **given) -> "TrainingOptions":
        """The model's defaults for whatever ``given`` leaves out (or sets to None)."""
        _check_choice("model", model, MODELS)
        chosen = {name: value for name, value in given.items() if value is not None}
        defaults = dict(MODEL_DEFAULTS[model])
        default_rate = defaults.pop("learning_rate", None)
        chosen = defaults | chosen
        if "learning_rate" not in chosen:
            _check_choice("optimizer", chosen["optimizer"], OPTIMIZERS)
            if default_rate is None or chosen["optimizer"] != defaults["optimizer"]:
                default_rate = DEFAULT_LEARNING_RATES[chosen["optimizer"]]
            if chosen.get("fine_tune"):
                default_rate /= 10
            chosen["learning_rate"] = default_rate
        return cls(labels=tuple(labels), model=model, **chosen)

    def to_json(self) -> dict:
        return asdict(self) | {"labels": list(self.labels)}

    @classmethod
    def from_json(cls, data) -> "TrainingOptions":
        return _from_json(cls, data)

    def replace(self, **changes) -> "TrainingOptions":
        return type(self)(**(asdict(self) | changes))


def _check_backbone_options(options) -> None:
    if options.model not in BACKBONES:
        _require(
            options.weights == "none" and options.fine_tune == 0,
            f"--weights and --fine-tune apply to the pretrained models ({', '.join(BACKBONES)}),"
            f" not to {options.model!r}; received weights {options.weights!r:.80},"
            f" fine_tune {options.fine_tune!r}",
        )
        return
    _require(
        options.weights in ("imagenet", "none") or bool(UPLOADED_WEIGHTS.match(options.weights)),
        f"weights must be 'imagenet', 'none' or an uploaded file (--weights PATH),"
        f" received {options.weights!r:.80}",
    )
    _require(
        _whole(options.fine_tune) and 0 <= options.fine_tune <= MAX_FINE_TUNE_LAYERS,
        f"fine_tune must be a whole number of layers from 0 to {MAX_FINE_TUNE_LAYERS},"
        f" received {options.fine_tune!r}",
    )
    _require(
        options.image_size >= BACKBONE_MIN_IMAGE_SIZE,
        f"{options.model} needs images of at least {BACKBONE_MIN_IMAGE_SIZE} px,"
        f" received --image-size {options.image_size}; ImageNet weights suit 96 to 224",
    )


@dataclass(frozen=True)
class PredictOptions:
    """What a ``catdog.predict`` task needs besides the model and the data."""

    labels: tuple[str, ...]
    image_size: int
    batch_size: int = 256
    tta: str = "none"

    def __post_init__(self):
        object.__setattr__(self, "labels", check_labels(self.labels))
        check_image_size(self.image_size)
        _check_choice("test-time augmentation", self.tta, TTA_MODES)
        _require(
            _whole(self.batch_size) and 1 <= self.batch_size <= MAX_BATCH_SIZE,
            f"batch_size must be a whole number from 1 to {MAX_BATCH_SIZE},"
            f" received {self.batch_size!r}",
        )

    def to_json(self) -> dict:
        return asdict(self) | {"labels": list(self.labels)}

    @classmethod
    def from_json(cls, data) -> "PredictOptions":
        return _from_json(cls, data)


def _from_json(cls, data):
    _require(isinstance(data, dict), f"options must be a JSON object, received {type(data)}")
    known = {field.name for field in fields(cls)}
    unknown = sorted(set(data) - known)
    _require(not unknown, f"unknown options {unknown}; known: {sorted(known)}")
    try:
        return cls(**data)
    except TypeError as error:  # a required field is missing
        raise OptionsError(str(error)) from None
