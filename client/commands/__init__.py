"""One module per ``submit.py`` command; the job kinds' modules also collect results.

``collector_for(kind)`` is how ``fetch`` and ``resume`` find the module that
knows where a kind's results go and how to report them.
"""


def collector_for(kind: str):
    from client.commands import compare, predict, train

    return {"train": train, "compare": compare, "predict": predict}[kind]
