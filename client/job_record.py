"""What a submitted job was asked to do, kept in Redis so it can be resumed.

``submit.py resume <job id>`` reads it back and sends the same tasks again
with the same job id: decoding reuses the cached shards and training goes on
from its last checkpoint.
"""

import json
import time

from shared.listing import Listing


class JobNotFound(LookupError):
    """No record of that job id in this cluster's Redis (wrong id, or expired)."""


def record_key(job_id: str) -> str:
    return f"catdog:job:{job_id}:record"


def listing_summary(listing: Listing) -> dict:
    return {"root": str(listing.root), "total": listing.total, "rejected": listing.rejected}


JOBS_KEY = "catdog:jobs"  # sorted set: job id -> submission time


def save_record(store, record: dict) -> None:
    record.setdefault("created", time.time())
    pipeline = store.redis.pipeline(transaction=True)
    pipeline.set(record_key(record["job_id"]), json.dumps(record), ex=store.artifact_ttl_seconds)
    pipeline.zadd(JOBS_KEY, {record["job_id"]: record["created"]})
    # Forget ids whose records have expired.
    pipeline.zremrangebyscore(JOBS_KEY, 0, time.time() - store.artifact_ttl_seconds)
    pipeline.execute()


def recent_job_ids(redis_client, count: int) -> list[str]:
    return [job_id.decode() for job_id in redis_client.zrevrange(JOBS_KEY, 0, count - 1)]


def load_record(redis_client, job_id: str) -> dict:
    stored = redis_client.get(record_key(job_id))
    if stored is None:
        raise JobNotFound(
            f"no job {job_id} in this cluster (records expire after CATDOG_ARTIFACT_TTL_HOURS);"
            " use the same --broker, or --cache-dir for a local cluster"
        )
    return json.loads(stored)


def data_roots(record: dict) -> list[str]:
    """The folders the job's workers read: the training data, and what it predicts."""
    roots = [record["listing"]["root"]]
    if record["predict"]:
        roots.append(record["predict"]["listing"]["root"])
    return roots
