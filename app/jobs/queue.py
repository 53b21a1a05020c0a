"""The procrastinate app: the job queue lives in PostgreSQL (tables ``procrastinate_*``).

``queue_app`` holds the task definitions and is never opened itself: the worker opens a copy
bound to a connection pool on ``settings.database.libpq_url`` with the one Locus connection
configuration (:func:`connected_app`), and the API defers jobs on its own request connection
(``task.configure(connection=..., queue=settings.jobs.queue)``), inside the transaction that
inserts the job row, so a job row and its queue entry exist together or not at all.

Queue names are settings (``LOCUS_JOBS_QUEUE``), but a task is declared when its module is
imported, before any settings exist. So tasks are declared on :data:`DEFAULT_QUEUE`, a fixed
name that is only a fallback: the API always defers on ``settings.jobs.queue`` and the worker
listens on the same setting.
"""

from __future__ import annotations

import procrastinate

from config.settings import Settings
from store.connection import CheckedAsyncPool, connection_kwargs

__all__ = ["DEFAULT_QUEUE", "connected_app", "queue_app"]

#: Queue a task is declared on (the default of ``LOCUS_JOBS_QUEUE``); see the module docstring.
DEFAULT_QUEUE = "locus"

queue_app = procrastinate.App(
    connector=procrastinate.PsycopgConnector(),
    import_paths=["app.jobs.tasks"],
)


def connected_app(settings: Settings) -> procrastinate.App:
    """A copy of :data:`queue_app` with a pooled connector on ``settings.database``.

    Its connections are made with :func:`store.connection.connection_kwargs` (purpose
    ``batch``: the jobs' statement timeout, JIT off) and checked before reuse without
    backoff (:class:`store.connection.CheckedAsyncPool`). Open it with ``async with
    app.open_async():`` (or ``with app.open():``).
    """
    kwargs = connection_kwargs(settings.database, purpose="batch")
    # procrastinate decides autocommit itself (it opens its LISTEN connection with
    # autocommit=True and would be given the argument twice).
    kwargs.pop("autocommit")
    connector = procrastinate.PsycopgConnector(
        conninfo=settings.database.libpq_url,
        min_size=1,
        max_size=4,
        reconnect_timeout=settings.database.pool_reconnect_timeout_s,
        kwargs=kwargs,
        pool_factory=CheckedAsyncPool,
    )
    return queue_app.with_connector(connector)
