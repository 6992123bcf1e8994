"""What several commands share: options from arguments, and their usage errors."""

from client.session import broker_given
from shared.listing import DataError
from shared.options import OptionsError, TrainingOptions


class UsageError(ValueError):
    """Options that cannot work together; the message says how to fix them."""


def training_options(
    args, labels, optimizer=None, learning_rate=None, layout="names"
) -> TrainingOptions:
    """Every option spelled out: the model's defaults fill what the user left out."""
    try:
        return TrainingOptions.for_model(
            labels,
            args.model,
            layout=layout,
            optimizer=optimizer,
            learning_rate=learning_rate,
            epochs=args.epochs,
            batch_size=args.batch_size,
            image_size=args.image_size,
            seed=args.seed,
            test_size=args.test_size,
            patience=args.patience,
            device=args.device,
            mixed_precision=args.mixed_precision,
            schedule=args.schedule,
        )
    except OptionsError as error:
        raise UsageError(str(error)) from None


def require_standing_cluster_for_detach(args) -> None:
    if getattr(args, "detach", False) and not broker_given(args):
        raise UsageError(
            "--detach needs a standing cluster to run the job: pass --broker URL"
            " (start one with `python submit.py cluster`)"
        )


def require_standing_cluster(args) -> None:
    if not broker_given(args):
        raise UsageError(
            f"`submit.py {args.command}` needs a standing cluster: pass --broker URL or set"
            " CELERY_BROKER_URL (start one with `python submit.py cluster`)"
        )


def require_images(listing) -> None:
    if not listing.files:
        raise DataError(f"no image files (.jpg, .jpeg, .png) under {listing.root}")
