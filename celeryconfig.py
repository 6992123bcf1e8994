"""Celery settings for every worker and the client.

Deployment-specific values (URLs, time-outs) come from environment variables
read in ``shared/settings.py``; everything here holds for every deployment.
"""

from shared import settings

broker_url = settings.broker_url() or "redis://localhost:6379/0"
result_backend = settings.result_backend_url() or broker_url

# JSON only: pickle would let anyone who can write to Redis run code on workers.
task_serializer = "json"
result_serializer = "json"
accept_content = ["json"]
result_accept_content = ["json"]

# A task is acknowledged after it finishes, so a worker that dies mid-task
# leaves it to be delivered again; tasks are idempotent, so that is safe.
task_acks_late = True
task_reject_on_worker_lost = True
# Tasks are long (a shard, a training run): take one at a time, leave the
# rest in the queue for other workers.
worker_prefetch_multiplier = 1
# The gpu worker's pool process imports TensorFlow before it reports ready.
worker_proc_alive_timeout = 120

broker_transport_options = {
    # Unacknowledged tasks come back after this: longer than any training run.
    "visibility_timeout": settings.visibility_timeout_seconds(),
}
broker_connection_retry_on_startup = True
broker_connection_timeout = 10
# Publishing retries a few times, then fails instead of hanging the client.
task_publish_retry_policy = {
    "max_retries": 3,
    "interval_start": 0.5,
    "interval_step": 1.0,
}
redis_socket_connect_timeout = 10
redis_backend_health_check_interval = 30
# Task states and results ride out a Redis restart (a minute or so) instead of
# failing the task that reports them; a client's follow loop bounds its own wait.
result_backend_always_retry = True
result_backend_max_retries = 12
result_backend_base_sleep_between_retries_ms = 250
result_backend_max_sleep_between_retries_ms = 10_000

result_expires = settings.artifact_ttl_seconds()
result_extended = True  # task name, args and worker in results: Flower shows them
task_track_started = True

# Events let Flower (and `celery events`) follow tasks live.
worker_send_task_events = True
task_send_sent_event = True

task_routes = {
    "catdog.decode_shard": {"queue": "cpu"},
    "catdog.train": {"queue": "gpu"},
    "catdog.predict": {"queue": "gpu"},
}
task_default_queue = "cpu"
worker_hijack_root_logger = True
