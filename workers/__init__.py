"""Celery task modules: ``workers.cpu`` (decode) and ``workers.gpu`` (train)."""
