"""Job control on a cluster: ``status``, ``jobs``, ``fetch``, ``cancel`` and ``resume``.

They work alike for every kind of job (train, compare, predict): each reads
the job's record from Redis and reuses the submit-and-follow flow.
"""

import sys
import time
from contextlib import ExitStack

from catdog_queue.client import flow
from catdog_queue.client.commands import collector_for
from catdog_queue.client.commands.common import require_standing_cluster
from catdog_queue.client.follow import release_results
from catdog_queue.client.job_status import job_status
from catdog_queue.client.session import connect
from catdog_queue.jobs import kinds
from catdog_queue.jobs.record_checks import RecordRejected
from catdog_queue.jobs.records import check_job_id, load_record, recent_job_ids
from catdog_queue.shared import dead_letters, settings
from catdog_queue.shared.job_state import JobState


def _control_session(args, stack):
    require_standing_cluster(args)
    return connect(args, "control", None, stack)


def run_status(args) -> int:
    with ExitStack() as stack:
        session = _control_session(args, stack)
        record = load_record(session.store.redis, args.job_id)
        status = job_status(session, record)
        release_results(session.app, kinds.all_task_ids(record))
    for name, value in status.items():
        print(f"{name}: {round(value) if name == 'age_s' else value}")
    return 0


def run_jobs(args) -> int:
    with ExitStack() as stack:
        session = _control_session(args, stack)
        rows = []
        for job_id in recent_job_ids(session.store.redis, args.limit):
            try:
                record = load_record(session.store.redis, job_id)
            except LookupError:
                continue  # expired, or an entry that is no job id
            except RecordRejected as error:  # one forged record hides no other job
                print(f"error: {error}", file=sys.stderr)
                continue
            rows.append(job_status(session, record))
            release_results(session.app, kinds.all_task_ids(record))
        buried = len(dead_letters.dead_letters(session.store.redis))
    print(f"{'job':<24} {'kind':<8} {'state':<12} {'result':>10} {'age':>6}  detail")
    for row in rows:
        print(
            f"{row['job_id']:<24} {row['kind']:<8} {row['phase']:<12} {row.get('result', '-'):>10}"
            f" {_age(row['age_s']):>6}  {row.get('detail', '')}".rstrip()
        )
    if buried:
        print(f"{buried} dead letters: `submit.py deadletters` lists them")
    return 0


def run_fetch(args) -> int:
    """Follow a job to its end (without sending anything) and collect its results."""
    started = time.perf_counter()
    with ExitStack() as stack:
        session = _control_session(args, stack)
        record = load_record(session.store.redis, args.job_id)
        collector = collector_for(record.kind)
        out = collector.output_path(args.out, args.job_id)  # what the user typed, never Redis
        timings = {}
        followed = flow.follow(session, stack, record, timings)
        collected = collector.collect_results(session, record, followed, out, timings, started)
    return collector.report(collected, out)


def run_cancel(args) -> int:
    with ExitStack() as stack:
        session = _control_session(args, stack)
        cancel_job(session, load_record(session.store.redis, args.job_id))
    print(f"job {args.job_id}: cancelled", file=sys.stderr)
    return 0


def cancel_job(session, record) -> None:
    """Stop ``record``'s job: ``submit.py cancel`` and the Python API's ``Job.cancel``."""
    # The job's own flag too: workers revoke only the tasks of a cancelled job.
    for job_id in {record.job_id, *kinds.state_ids(record)}:
        JobState(session.store.redis, job_id, settings.artifact_ttl_seconds()).cancel()
    # Queued tasks never start; a running training stops within a second.
    session.app.control.revoke(kinds.all_task_ids(record))


def run_deadletters(args) -> int:
    """List the dead letters; ``--drop``/``--drop-all`` forget them (an operator's password:
    where Redis 7 enforces it, other users may only read the list)."""
    with ExitStack() as stack:
        redis_client = _control_session(args, stack).store.redis
        entries = dead_letters.dead_letters(redis_client)
        if args.drop or args.drop_all:
            chosen = [entry["task_id"] for entry in entries] if args.drop_all else args.drop
            print(f"dropped {dead_letters.drop(redis_client, chosen)} dead letters")
            return 0
    print(f"{len(entries)} dead letters" + (":" if entries else ""))
    for entry in entries:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(entry["at"]))
        print(f"{entry['task_id']}  {entry['task']}  job {entry['job']}  at {when}")
        print(f"    reason: {entry['reason']}")
        print(f"    arguments: {entry['arguments']}")
    return 0


def run_resume(args) -> int:
    """Send an interrupted job's tasks again; it goes on from its shards and checkpoints."""
    started = time.perf_counter()
    check_job_id(args.job_id)  # it names the local cluster's log folder
    with ExitStack() as stack:
        session = connect(args, args.job_id, None, stack)
        record = load_record(session.store.redis, args.job_id)
        collector = collector_for(record.kind)
        out = collector.output_path(args.out, args.job_id)  # what the user typed, never Redis
        session.start_workers(flow.data_roots(record))
        timings = dict(session.timings)
        # A cancelled job resumed runs again (the job's own flag, and each run's).
        for job_id in {record.job_id, *kinds.state_ids(record)}:
            JobState(session.store.redis, job_id, settings.artifact_ttl_seconds()).uncancel()
        print(f"job {args.job_id}: resuming", file=sys.stderr)
        flow.submit(session, record)
        followed = flow.follow(session, stack, record, timings)
        collected = collector.collect_results(session, record, followed, out, timings, started)
    return collector.report(collected, out)


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"
