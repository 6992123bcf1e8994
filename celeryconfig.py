"""Celery settings for every worker and the client.

Deployment-specific values (URLs, time-outs) come from environment variables
read in ``shared/settings.py``; everything here holds for every deployment.
"""

from catdog_queue.shared import sentinel, settings, task_names


def connection_settings(broker: str, backend: str | None = None) -> dict:
    """Celery's settings for a broker and a result backend, either behind Sentinel or not.

    Behind Redis Sentinel (``sentinel://`` URLs) Celery needs the master's
    name, and the URL's login for the sentinels too: kombu and Celery pass it
    to the master only. Clients that point an imported app at another
    cluster update it with these, not with the URLs alone.
    """
    backend = backend or broker
    found = {
        "broker_url": broker,
        "result_backend": backend,
        "broker_transport_options": {
            # Unacknowledged tasks come back after this: longer than any training run.
            "visibility_timeout": settings.visibility_timeout_seconds(),
        },
        "result_backend_transport_options": {},
    }
    # Publishing rides out a restart or a Sentinel failover (pauses of 0.5,
    # 1.5, 2.5, ... then 5 s: about 40 s in all, past the 5 s that sentinels
    # take to call a master down and the seconds a promotion takes), then
    # fails instead of hanging the client. kombu tries each address of a
    # list (each sentinel) in turn and pauses only after the whole list.
    addresses = len(broker.split(";"))
    found["task_publish_retry_policy"] = {
        "max_retries": 10 * addresses,
        "interval_start": 0.5,
        "interval_step": 1.0,
        "interval_max": 5.0,
    }
    if sentinel.is_sentinel_url(broker):
        found["broker_transport_options"] |= sentinel.transport_options(broker)
    if sentinel.is_sentinel_url(backend):
        found["result_backend_transport_options"] = sentinel.transport_options(backend)
    return found


_connection = connection_settings(
    settings.broker_url() or "redis://localhost:6379/0", settings.result_backend_url()
)
broker_url = _connection["broker_url"]
result_backend = _connection["result_backend"]
broker_transport_options = _connection["broker_transport_options"]
result_backend_transport_options = _connection["result_backend_transport_options"]

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

broker_connection_retry_on_startup = True
broker_connection_timeout = 10
task_publish_retry_policy = _connection["task_publish_retry_policy"]
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

task_routes = {name: {"queue": queue} for name, queue in task_names.QUEUE_OF.items()}
task_default_queue = "cpu"
worker_hijack_root_logger = True
