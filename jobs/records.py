"""What a submitted job was asked to do, kept in Redis so any client can follow it.

``submit.py status``, ``fetch``, ``cancel`` and ``resume`` read the record
back: ``resume`` sends the same tasks again under the same job id, so
decoding reuses the cached shards and training goes on from its checkpoint.
"""

import json
import time
from dataclasses import asdict, dataclass, field

from catdog_queue.jobs.record_checks import JOB_ID, checked_record, shown
from catdog_queue.shared.redis_client import wait_for_replica

JOBS_KEY = "catdog:jobs"  # sorted set: job id -> submission time


class JobNotFound(LookupError):
    """No record of that job id in this cluster's Redis (wrong id, or expired)."""


@dataclass
class DataPart:
    """One folder of the job: its files as listed by the client, cut into shards."""

    role: str  # "train" (labelled images) or "predict"
    data_root: str  # where the workers read it (--worker-data-dir)
    listing: dict  # {"root": client-side folder, "total", "rejected", "layout"}
    shards: list[dict]

    @property
    def image_count(self) -> int:
        return sum(len(shard["paths"]) for shard in self.shards)


@dataclass
class JobRecord:
    job_id: str
    kind: str
    parts: list[DataPart]
    options: dict | None = None  # TrainingOptions as JSON (train)
    runs: list[dict] = field(default_factory=list)  # compare: [{"name", "options"}]
    prediction: dict | None = None  # {"model_key", "options": PredictOptions as JSON}
    upload: bool = False  # the workers get the files' bytes through Redis
    created: float = field(default_factory=time.time)

    def part(self, role: str) -> DataPart | None:
        return next((part for part in self.parts if part.role == role), None)

    @property
    def shards(self) -> list[dict]:
        return [shard for part in self.parts for shard in part.shards]

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text, job_id: str) -> "JobRecord":
        """The record of job ``job_id``, once every field is checked (``RecordRejected``)."""
        data = checked_record(text, job_id)
        data["parts"] = [DataPart(**part) for part in data["parts"]]
        return cls(**data)


def record_key(job_id: str) -> str:
    return f"catdog:job:{job_id}:record"


def save_record(store, record: JobRecord) -> None:
    pipeline = store.redis.pipeline(transaction=True)
    pipeline.set(record_key(record.job_id), record.to_json(), ex=store.artifact_ttl_seconds)
    pipeline.zadd(JOBS_KEY, {record.job_id: record.created})
    # Forget ids whose records have expired.
    pipeline.zremrangebyscore(JOBS_KEY, 0, time.time() - store.artifact_ttl_seconds)
    pipeline.execute()
    # Without its record a job cannot be followed, fetched or resumed.
    wait_for_replica(store.redis)


def check_job_id(job_id) -> str:
    """An id as ``new_job_id`` makes them: it names a folder of ``runs/`` and task ids."""
    if not isinstance(job_id, str) or not JOB_ID.fullmatch(job_id):
        raise JobNotFound(
            f"{shown(job_id)} is not a job id; ids look like 20261129-202606-0ba613"
            " (`submit.py jobs` lists them)"
        )
    return job_id


def load_record(redis_client, job_id: str) -> JobRecord:
    """Job ``job_id``'s record; refused (``RecordRejected``) unless it is one this project wrote.

    Anyone with the password can write a record, so it must name the id that
    was asked for, and every field is checked before the client uses it.
    """
    stored = redis_client.get(record_key(check_job_id(job_id)))
    if stored is None:
        raise JobNotFound(
            f"no job {job_id} in this cluster (records expire after CATDOG_ARTIFACT_TTL_HOURS);"
            " use the same --broker, or the same --cache-dir for a local cluster"
        )
    return JobRecord.from_json(stored, job_id)


def recent_job_ids(redis_client, count: int) -> list[str]:
    return [job_id.decode() for job_id in redis_client.zrevrange(JOBS_KEY, 0, count - 1)]


def listing_summary(listing) -> dict:
    return {
        "root": str(listing.root),
        "total": listing.total,
        "rejected": listing.rejected,
        "layout": getattr(listing, "layout", "names"),
    }
