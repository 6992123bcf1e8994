"""Command line of ``submit.py``: parse, run, and turn known failures into one line."""

import signal
import sys

from catdog_queue.client.arguments import build_parser

EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130


def main(argv=None) -> int:
    from kombu.exceptions import OperationalError as KombuOperationalError
    from redis import RedisError

    from catdog_queue.client.broker import BrokerUnreachable
    from catdog_queue.client.commands.common import UsageError
    from catdog_queue.client.follow import JobFailed
    from catdog_queue.client.local_cluster import ClusterError
    from catdog_queue.jobs.records import JobNotFound
    from catdog_queue.shared.listing import DataError
    from catdog_queue.shared.metrics import ResultRejected
    from catdog_queue.shared.model_metadata import ModelFileError
    from catdog_queue.shared.settings import SettingError
    from catdog_queue.shared.shards import ArtifactMissing

    args = build_parser().parse_args(argv)
    what_goes_on = _what_goes_on(args)  # before a local cluster sets CELERY_BROKER_URL
    # SIGTERM and SIGHUP stop a command as Ctrl-C does: local processes stop,
    # nothing half-written stays, and `resume` goes on from where it was.
    for signal_number in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signal_number, _interrupt)
    try:
        return _run(args)
    except (DataError, ModelFileError, UsageError, JobNotFound, SettingError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except (BrokerUnreachable, ClusterError, JobFailed, ResultRejected, ArtifactMissing) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_FAILED
    except RedisError as error:  # out of memory, a refused command, a broken connection
        print(f"error: Redis answered: {type(error).__name__}: {error}", file=sys.stderr)
        return EXIT_FAILED
    except KombuOperationalError as error:  # publishing gave up: Redis stayed away
        print(
            f"error: could not send the job's tasks, Redis stayed away: {error}; the job"
            " was not started, or only in part: `submit.py resume <job id>` sends it again",
            file=sys.stderr,
        )
        return EXIT_FAILED
    except OSError as error:  # an unwritable --out or --cache-dir, a full disk
        where = f": {error.filename}" if error.filename else ""
        print(f"error: {error.strerror or error}{where}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print(f"\ninterrupted: {what_goes_on}", file=sys.stderr)
        return EXIT_INTERRUPTED


def _what_goes_on(args) -> str:
    from catdog_queue.client.session import broker_given

    if args.command in ("status", "jobs", "cancel", "deadletters"):
        return "nothing changed"
    if args.command == "cluster":
        return "the cluster stopped"
    if broker_given(args):
        return (
            "this client stopped following; the job goes on on the cluster"
            " (`submit.py jobs` lists it, `fetch` follows it again, `cancel` stops it)"
        )
    return (
        "the local cluster stopped; `submit.py resume <job id>` (with the same --cache-dir)"
        " goes on from where the job was"
    )


def _interrupt(signal_number, frame):
    raise KeyboardInterrupt(signal.Signals(signal_number).name)


def _run(args) -> int:
    """The command's module is imported only when used: each pulls in what it needs."""
    if args.command == "train":
        from catdog_queue.client.commands.train import run_train

        return run_train(args)
    if args.command == "compare":
        from catdog_queue.client.commands.compare import run_compare

        return run_compare(args)
    if args.command == "predict":
        from catdog_queue.client.commands.predict import run_predict

        return run_predict(args)
    if args.command == "cluster":
        from catdog_queue.client.commands.cluster import run_cluster

        return run_cluster(args)
    from catdog_queue.client.commands import control

    return getattr(control, f"run_{args.command}")(args)
