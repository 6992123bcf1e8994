"""Job kinds: what tasks each job sends, under which ids, in which order.

A job is described by a ``JobRecord`` (``jobs.records``), kept in Redis so
that any client can follow, resume or cancel it. Each kind's module
(``train``, ``compare``, ``predict``) turns a record into a Celery canvas
and names the long tasks a client follows. Nothing here waits or prints:
following a job is the client's business (``client.follow``).
"""
