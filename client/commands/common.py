"""What several commands share: options from arguments, and their usage errors."""

import hashlib
from pathlib import Path

from catdog_queue.client.session import broker_given
from catdog_queue.shared.listing import DataError
from catdog_queue.shared.model_metadata import is_hdf5
from catdog_queue.shared.options import OptionsError, TrainingOptions


class UsageError(ValueError):
    """Options that cannot work together; the message says how to fix them."""


def training_options(
    args, labels, optimizer=None, learning_rate=None, layout="names", *, model=None, image_size=None
) -> TrainingOptions:
    """Every option spelled out: the model's defaults fill what the user left out.

    ``model`` and ``image_size``, when given, stand in for ``--model`` and
    ``--image-size`` (compare's runs of several models on one decoding).
    """
    try:
        return TrainingOptions.for_model(
            labels,
            model or args.model,
            layout=layout,
            optimizer=optimizer,
            learning_rate=learning_rate,
            epochs=args.epochs,
            batch_size=args.batch_size,
            image_size=image_size or args.image_size,
            seed=args.seed,
            test_size=args.test_size,
            patience=args.patience,
            device=args.device,
            mixed_precision=args.mixed_precision,
            schedule=args.schedule,
            data_mode=getattr(args, "data_mode", None),
            weights=weights_option(getattr(args, "weights", None)),
            fine_tune=getattr(args, "fine_tune", None),
            tta=getattr(args, "tta", None),
        )
    except OptionsError as error:
        raise UsageError(str(error)) from None


def weights_option(given: str | None) -> str | None:
    """``imagenet`` and ``none`` as they are; a file becomes ``sha256:<digest>.<kind>.h5``.

    The gpu worker needs no shared disk: the file's bytes go through Redis
    (``upload_weights``), and the digest names them.
    """
    if given is None or given in ("imagenet", "none"):
        return given
    path = Path(given)
    if not path.is_file():
        raise UsageError(f"--weights: no such file {given!r}; pass imagenet, none or a .h5 file")
    if not path.name.endswith(".h5") or not is_hdf5(path):
        raise UsageError(
            f"--weights {given}: not an HDF5 weights file (.h5 or .weights.h5, as"
            " Keras saves or downloads them)"
        )
    kind = ".weights.h5" if path.name.endswith(".weights.h5") else ".h5"
    return f"sha256:{hashlib.sha256(path.read_bytes()).hexdigest()}{kind}"


def upload_weights(args):
    """A ``prepare(session, record)`` for ``send_job`` that stores ``--weights PATH``, or None."""
    given = getattr(args, "weights", None)
    if given is None or given in ("imagenet", "none"):
        return None
    data = Path(given).read_bytes()
    spec = weights_option(given)

    def prepare(session, record):
        session.store.put_weights(spec, data)

    return prepare


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
