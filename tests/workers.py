"""A real Celery worker for tests: a thread of the test process on the Redis broker."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from celery import Task
from celery.contrib.testing.worker import start_worker
from celery.signals import task_postrun
from django.db import connections

from config.celery import app as celery_app


@contextmanager
def worker_for(monkeypatch: pytest.MonkeyPatch, *tasks: Task) -> Iterator[None]:
    """Run a worker while the block runs, consuming a queue of its own to which ``tasks`` are
    routed, so that workers of other test processes sharing this Redis (each with its own test
    database) cannot take the jobs. Needs a transactional test: the worker thread has its own
    database connection, closed after each task."""
    queue = f"test-{uuid.uuid4().hex}"
    monkeypatch.setattr(
        celery_app.amqp.queues, "_consume_from", celery_app.amqp.queues._consume_from
    )
    monkeypatch.setitem(celery_app.conf, "worker_hijack_root_logger", False)
    routes = celery_app.conf.task_routes

    def close_worker_connections(**kwargs: Any) -> None:
        connections.close_all()  # runs in the worker thread: its own connection

    task_postrun.connect(close_worker_connections, weak=False)
    celery_app.conf.update(task_routes={task.name: {"queue": queue} for task in tasks})
    try:
        with start_worker(celery_app, perform_ping_check=False, queues=[queue], loglevel="WARNING"):
            yield
    finally:
        celery_app.conf.update(task_routes=routes)
        task_postrun.disconnect(close_worker_connections)
        with celery_app.connection_for_write() as conn:
            conn.default_channel.queue_delete(queue)
