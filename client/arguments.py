"""The command line's arguments: every command and its options (the typed options built from
their one declaration in ``shared``, by ``client.training_arguments``)."""

import argparse

from catdog_queue.client.argument_types import positive_int, positive_seconds
from catdog_queue.client.queue_watch import DEFAULT_WAIT_TIMEOUT_S
from catdog_queue.client.training_arguments import (
    add_predict_options,
    add_single_run_options,
    add_training_options,
)
from catdog_queue.shared.option_declarations import RATES
from catdog_queue.shared.options import MODELS, OPTIMIZERS

# Both layouts shared.layout reads.
DATA_HELP = "folder of labelled images: LABEL.N.jpg files, or one subfolder per label"


def build_parser() -> argparse.ArgumentParser:
    # No prog: usage names what was run, ``submit.py`` or the installed ``catdog-queue``.
    parser = argparse.ArgumentParser(
        description="Train and serve an image classifier on a Celery cluster."
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
    # Shards and data folders are the record's: resume takes only where the cluster is.
    _add_cluster_options(resume)
    return parser


def _add_train(train: argparse.ArgumentParser) -> None:
    train.add_argument("--data", required=True, help=DATA_HELP + " (e.g. Kaggle's train/)")
    add_single_run_options(train)
    add_training_options(train)
    train.add_argument("--out", help="output folder (default runs/<job id>/)")
    train.add_argument(
        "--predict",
        metavar="DIR",
        help="then classify DIR (e.g. test1/) into OUT/predictions.csv; the workers read DIR"
        " at this same path (--worker-data-dir applies to --data only)",
    )
    _add_job_options(train)


def _add_compare(compare: argparse.ArgumentParser) -> None:
    compare.add_argument("--data", required=True, help=DATA_HELP)
    compare.add_argument(
        "--optimizers",
        nargs="+",
        choices=OPTIMIZERS,
        help="default: sgd rmsprop adagrad, the tutorial's three; with several --models,"
        " each model's own",
    )
    compare.add_argument(
        "--models",
        nargs="+",
        choices=MODELS,
        help="compare models on the same split (runs named MODEL-OPTIMIZER); replaces --model;"
        " one decoding at --image-size, by default the largest of the models' own sizes",
    )
    compare.add_argument(
        "--learning-rates",
        nargs="+",
        type=float,
        help=f"a grid with every optimizer (default: each optimizer's own: {RATES})",
    )
    add_training_options(compare)
    compare.add_argument("--out", help="output folder (default runs/<job id>/)")
    _add_job_options(compare)


def _add_predict(predict: argparse.ArgumentParser) -> None:
    predict.add_argument("--model", required=True, help="model.keras or model.h5 from `train`")
    predict.add_argument("--data", required=True, help="folder of images (Kaggle's test1/)")
    predict.add_argument("--out", default="predictions.csv", help="CSV to write (id,label)")
    add_predict_options(predict)
    _add_job_options(predict)


def _add_job_options(command: argparse.ArgumentParser) -> None:
    """What every new job takes: detaching, uploading, its data, and where the cluster is."""
    command.add_argument(
        "--detach", action="store_true", help="with --broker: print the job id and return"
    )
    command.add_argument(
        "--upload",
        action="store_true",
        help="send the files' bytes through Redis, for workers without the data folder"
        " (automatic when a worker says it cannot see it)",
    )
    command.add_argument(
        "--shard-size", type=positive_int, default=1000, help="images per decode task"
    )
    command.add_argument(
        "--worker-data-dir",
        help="where workers find --data, if they mount it elsewhere (default: the same path)",
    )
    _add_cluster_options(command)


def _add_cluster_options(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--broker", help="Redis URL of a running cluster (else CELERY_BROKER_URL, else local)"
    )
    command.add_argument(
        "--cache-dir", help="shard cache of the local cluster (default: user cache dir)"
    )
    command.add_argument(
        "--wait-timeout",
        type=positive_seconds,
        default=DEFAULT_WAIT_TIMEOUT_S,
        help="with --broker: give up after this many seconds with no worker on a queue",
    )
