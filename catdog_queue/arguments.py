"""Keyword arguments of ``train``, ``compare`` and ``predict`` read by the command line's parser.

One declaration of every option, default, choice and check (``client.arguments``; the
typed options' in ``shared.option_declarations``):
``train(data, epochs=3, image_size=8)`` means ``submit.py train --data DATA
--epochs 3 --image-size 8``, and gets the same defaults and the same refusals.
"""

import contextlib
import io

# Where the cluster is, and whether to wait, belong to the Cluster and the Job handle.
CLUSTER_KEYWORDS = ("broker", "cache_dir", "wait_timeout", "detach")


def command_arguments(command: str, **keywords):
    """The ``argparse.Namespace`` the command line would make; ValueError if it would refuse."""
    taken = sorted(name for name in keywords if name in CLUSTER_KEYWORDS)
    if taken:
        raise ValueError(
            f"{command}() received {', '.join(taken)}: the cluster is chosen once, with"
            " catdog_queue.start(cache_dir=...) or catdog_queue.connect(broker_url), and"
            " job.wait() follows a job; leave these out"
        )
    from catdog_queue.client.arguments import build_parser

    words = [command]
    for name, value in keywords.items():
        words += _option_words(name, value)
    errors = io.StringIO()
    try:
        with contextlib.redirect_stderr(errors):
            return build_parser().parse_args(words)
    except SystemExit:
        # argparse ends with "prog: error: what is wrong"; that sentence is what to show.
        message = errors.getvalue().strip().splitlines()[-1].split("error: ", 1)[-1]
        raise ValueError(
            f"{command}() received {_shown(keywords)}: {message}; keywords are the command"
            f" line's options with _ for - (`python submit.py {command} --help` lists them)"
        ) from None


def _option_words(name: str, value) -> list[str]:
    """``epochs=3`` as ``--epochs 3``; True as a bare flag; None and False as nothing."""
    if value is None or value is False:
        return []
    flag = "--" + name.replace("_", "-")
    if value is True:
        return [flag]
    if isinstance(value, (list, tuple)):
        return [flag, *map(str, value)]
    return [flag, str(value)]


def _shown(keywords: dict) -> str:
    return ", ".join(f"{name}={value!r}" for name, value in keywords.items()) or "nothing"
