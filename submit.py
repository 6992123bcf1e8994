#!/usr/bin/env python3
"""Submit jobs to the catdog-queue cluster: ``python submit.py train --data train/``.

Without ``--broker`` (or ``CELERY_BROKER_URL``) an embedded local cluster is
started for the job and stopped afterwards.
"""

import sys

from catdog_queue.client.cli import main

if __name__ == "__main__":
    sys.exit(main())
