"""The command line's arguments: every command, its options, their checks and defaults."""

import argparse

from client.queue_watch import DEFAULT_WAIT_TIMEOUT_S
from shared.options import (
    BACKBONES,
    DATA_MODES,
    DEFAULT_LEARNING_RATES,
    MAX_IMAGE_SIZE,
    MAX_SEED,
    MODEL_DEFAULTS,
    MODELS,
    OPTIMIZERS,
    SCHEDULES,
    TTA_MODES,
)

RATES = ", ".join(f"{name} {rate}" for name, rate in DEFAULT_LEARNING_RATES.items())


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, received {text}")
    return value


def image_size(text: str) -> int:
    value = positive_int(text)
    if value > MAX_IMAGE_SIZE:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_IMAGE_SIZE}, received {text}")
    return value


def seed(text: str) -> int:
    value = int(text)
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"must be from 0 to {MAX_SEED}, received {text}")
    return value


def fraction(text: str) -> float:
    value = float(text)
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, received {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="submit.py", description="Train and serve an image classifier on a Celery cluster."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_train(commands.add_parser("train", help="decode a labelled folder, train, evaluate"))
    _add_compare(commands.add_parser("compare", help="train one model per optimizer, compare"))
    _add_predict(commands.add_parser("predict", help="classify a folder with a trained model"))
    cluster = commands.add_parser("cluster", help="run a local cluster until Ctrl-C")
    cluster.add_argument("--cpu-workers", type=positive_int, help="decode processes (cores)")
    cluster.add_argument("--gpu-workers", type=positive_int, default=1)
    cluster.add_argument(
        "--backend",
        choices=("tensorflow", "jax", "torch"),
        help="Keras backend of the gpu workers (default: KERAS_BACKEND, else tensorflow)",
    )
    cluster.add_argument("--flower", type=positive_int, metavar="PORT", help="also run Flower")
    cluster.add_argument(
        "--replicas",
        type=positive_int,
        metavar="N",
        help="run Redis highly available: a master, N replicas and 3 sentinels",
    )
    cluster.add_argument(
        "--data-root",
        action="append",
        help="a folder workers may read images from (repeatable; default: this folder)",
    )
    cluster.add_argument("--cache-dir", help="where Redis keeps the shard cache")
    for name, summary in (
        ("status", "show a job's phase and progress"),
        ("fetch", "download a job's results (waiting for it to finish)"),
        ("cancel", "stop a job: queued tasks never run, training stops"),
    ):
        control = commands.add_parser(name, help=summary)
        control.add_argument("job_id")
        if name == "fetch":
            control.add_argument("--out", help="output folder (default runs/<job id>/)")
        control.add_argument("--broker", help="Redis URL of the cluster (or CELERY_BROKER_URL)")
    jobs = commands.add_parser("jobs", help="list recent jobs")
    jobs.add_argument("--limit", type=positive_int, default=20)
    jobs.add_argument("--broker", help="Redis URL of the cluster (or CELERY_BROKER_URL)")
    dead = commands.add_parser(
        "deadletters", help="list the messages set aside after their workers died 3 times"
    )
    dead.add_argument("--drop", nargs="+", metavar="TASK_ID", help="forget these (operators)")
    dead.add_argument("--drop-all", action="store_true", help="forget every one (operators)")
    dead.add_argument("--broker", help="Redis URL of the cluster (or CELERY_BROKER_URL)")
    resume = commands.add_parser("resume", help="run an interrupted job on to its end")
    resume.add_argument("job_id", help="the id `train` printed (job YYYYMMDD-HHMMSS-xxxxxx)")
    resume.add_argument("--out", help="output folder (default runs/<job id>/)")
    _add_cluster_options(resume)
    return parser


def _add_train(train: argparse.ArgumentParser) -> None:
    train.add_argument(
        "--data", required=True, help="folder of LABEL.N.jpg images (Kaggle's train/)"
    )
    train.add_argument("--optimizer", choices=OPTIMIZERS, help="default: sgd (mlp), adam (cnn)")
    train.add_argument("--learning-rate", type=float, help=f"default per optimizer: {RATES}")
    _add_training_options(train)
    train.add_argument("--out", help="output folder (default runs/<job id>/)")
    train.add_argument(
        "--predict", metavar="DIR", help="then classify DIR (e.g. test1/) into OUT/predictions.csv"
    )
    _add_job_options(train)


def _add_compare(compare: argparse.ArgumentParser) -> None:
    compare.add_argument("--data", required=True, help="folder of LABEL.N.jpg images")
    compare.add_argument(
        "--optimizers", nargs="+", choices=OPTIMIZERS, default=["sgd", "rmsprop", "adagrad"]
    )
    compare.add_argument(
        "--learning-rates",
        nargs="+",
        type=float,
        help=f"a grid with every optimizer (default: each optimizer's own: {RATES})",
    )
    _add_training_options(compare)
    compare.add_argument("--out", help="output folder (default runs/<job id>/)")
    _add_job_options(compare)


def _add_training_options(command: argparse.ArgumentParser) -> None:
    defaults = "; ".join(
        f"{name}: {settings['image_size']} px, {settings['epochs']} epochs"
        for name, settings in MODEL_DEFAULTS.items()
    )
    command.add_argument("--model", choices=MODELS, default="mlp", help=f"defaults {defaults}")
    command.add_argument("--epochs", type=positive_int, help="default per model")
    command.add_argument(
        "--image-size",
        type=image_size,
        help=f"pixels per side, at most {MAX_IMAGE_SIZE}; per model",
    )
    command.add_argument("--batch-size", type=positive_int, default=128)
    command.add_argument("--seed", type=seed, default=12345, help="fixes the split and the weights")
    command.add_argument("--test-size", type=fraction, default=0.25, help="held-out fraction")
    command.add_argument(
        "--device",
        choices=("auto", "cpu"),
        default="auto",
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
        help="learning rate over time: constant (mlp) or cosine decay to zero (cnn)",
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
        default="auto",
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
    _add_tta(command, "the held-out evaluation's (and --predict's) probabilities")


def _add_predict(predict: argparse.ArgumentParser) -> None:
    predict.add_argument("--model", required=True, help="model.keras or model.h5 from `train`")
    predict.add_argument("--data", required=True, help="folder of images (Kaggle's test1/)")
    predict.add_argument("--out", default="predictions.csv", help="CSV to write (id,label)")
    predict.add_argument("--batch-size", type=positive_int, default=256)
    _add_tta(predict, "each image's probabilities")
    _add_job_options(predict)


def _add_tta(command: argparse.ArgumentParser, what: str) -> None:
    command.add_argument(
        "--tta",
        choices=TTA_MODES,
        default="none",
        help=f"test-time augmentation: flip averages {what} with its mirror's (twice the work)",
    )


def _add_job_options(command: argparse.ArgumentParser) -> None:
    """What every new job takes: detaching, uploading, and where the cluster is."""
    command.add_argument(
        "--detach", action="store_true", help="with --broker: print the job id and return"
    )
    command.add_argument(
        "--upload",
        action="store_true",
        help="send the files' bytes through Redis, for workers without the data folder"
        " (automatic when a worker says it cannot see it)",
    )
    _add_cluster_options(command)


def _add_cluster_options(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--shard-size", type=positive_int, default=1000, help="images per decode task"
    )
    command.add_argument(
        "--broker", help="Redis URL of a running cluster (else CELERY_BROKER_URL, else local)"
    )
    command.add_argument(
        "--worker-data-dir",
        help="where workers find --data, if they mount it elsewhere (default: the same path)",
    )
    command.add_argument(
        "--cache-dir", help="shard cache of the local cluster (default: user cache dir)"
    )
    command.add_argument(
        "--wait-timeout",
        type=float,
        default=DEFAULT_WAIT_TIMEOUT_S,
        help="with --broker: give up after this many seconds with no worker on a queue",
    )
