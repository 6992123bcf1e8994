"""A file that kills the process decoding it, for the fault cluster's workers.

Python imports ``sitecustomize`` at start-up from the first folder on the path
that has one; the fault cluster puts this folder on its workers' PYTHONPATH.
No real decoder crashes on demand, so the poison a test writes carries
``CRASH_MARK`` in its bytes, and the process that meets it dies of SIGKILL at
the very point where a crash in a native decoder would kill it. Files without
the mark decode as they always do. Pool processes are forked from the worker
that imported this, so they inherit the wrapped decoder.
"""

import os
import signal

CRASH_MARK = b"catdog-test: this file kills the process decoding it"


def _decode_or_die(original):
    def decode_into(out, data, *args, **kwargs):
        if CRASH_MARK in data:
            os.kill(os.getpid(), signal.SIGKILL)
        return original(out, data, *args, **kwargs)

    return decode_into


def _install() -> None:
    try:
        from catdog_queue.shared import decode
    except ImportError:  # a process that does not run from this repository
        return
    decode._decode_into = _decode_or_die(decode._decode_into)


_install()
