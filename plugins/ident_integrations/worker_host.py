"""The host name a Celery worker reports for the tasks it runs (a task instance's *Host* in the UI).

On a real multi-machine deployment each worker's machine has its own name and nothing here is
needed. `make stack` emulates the clinic's two computers with two workers on one machine: each is
started with ``IDENT_WORKER_HOSTNAME`` (e.g. ``clinic-worker``) and
``AIRFLOW__CORE__HOSTNAME_CALLABLE=ident_integrations.worker_host.hostname``, so the UI and the
REST API tell which worker ran a task.
"""

from __future__ import annotations

import os
import socket


def hostname() -> str:
    """``IDENT_WORKER_HOSTNAME`` when set, else the machine's fully qualified name (Airflow's default)."""
    return os.environ.get("IDENT_WORKER_HOSTNAME") or socket.getfqdn()
