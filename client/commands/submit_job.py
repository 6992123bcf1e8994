"""``submit.py train|compare|predict`` once planned: the Python API's job, in a terminal.

The command line is a thin layer over ``catdog_queue.launch``: it plans with
the same ``planned_*`` functions, sends with ``send_planned_job`` and follows
with the same ``Job.wait()``. What is its own: it connects only once the job
is planned (a local cluster is named after the job and logs into its folder),
``--detach``, the terminal's progress bars, and the report it prints.
"""

from contextlib import ExitStack

from catdog_queue.client.flow import data_roots, print_detached
from catdog_queue.client.progress import JobProgress
from catdog_queue.client.session import broker_given, connect
from catdog_queue.cluster import Cluster
from catdog_queue.launch import PlannedJob, send_planned_job


def submit_and_follow(args, planned: PlannedJob) -> int:
    """Send the planned job and, unless ``--detach``, follow it and report its results."""
    record, collector = planned.record, planned.collector
    with ExitStack() as stack:  # a local cluster stops when the job is collected
        log_dir = collector.log_dir(args, planned.out, record.job_id)
        session = connect(args, record.job_id, log_dir, stack)
        session.start_workers(data_roots(record))
        planned.timings |= session.timings
        job = send_planned_job(Cluster.attached(session, broker_given(args)), planned)
        if getattr(args, "detach", False):
            print_detached(record.job_id)
            return 0
        job.wait(progress_class=JobProgress)
    return collector.report(job.collected, job.out)
