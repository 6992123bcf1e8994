"""One module per ``submit.py`` command; the job kinds' modules also collect results.

``collector_for(kind)`` is how ``fetch`` and ``resume`` find the module that
knows where a kind's results go and how to report them: the module named
after the kind (``jobs.kinds.KINDS``).
"""

import importlib


def collector_for(kind: str):
    from catdog_queue.jobs.kinds import KINDS

    if kind not in KINDS:
        raise LookupError(f"no job kind {kind!r}; known: {', '.join(KINDS)}")
    return importlib.import_module(f"{__name__}.{kind}")
