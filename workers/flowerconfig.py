"""Flower's config: ``celery -A catdog_queue.workers.app flower --conf=workers/flowerconfig.py``.

Flower 2.2 serves its Prometheus metrics (``/metrics``: task names and counts, worker
names, queue lengths) to anyone, even with ``--basic_auth`` or ``--auth``: its
``Metrics`` handler lacks the ``tornado.web.authenticated`` check that every other
page and API call has. Flower reads this file (it runs it as Python) before it builds
its application, so the handler gets that check here: with basic auth, ``/metrics``
answers 401 without the password, like the rest; a Prometheus scrape sends it
(``basic_auth`` in its scrape config). ``/healthcheck`` stays open: it says ``OK``.

Module-level names that are Flower options (``port``, ``basic_auth``, ...) would set
them: there are none here.
"""

from flower.views import monitor as _monitor
from tornado import web as _web

if not getattr(_monitor.Metrics.get, "_catdog_requires_login", False):
    _monitor.Metrics.get = _web.authenticated(_monitor.Metrics.get)
    _monitor.Metrics.get._catdog_requires_login = True
