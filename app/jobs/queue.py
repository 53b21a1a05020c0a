"""The procrastinate app: the job queue lives in PostgreSQL (tables ``procrastinate_*``).

``queue_app`` holds the task definitions and is never opened itself: the worker opens a copy
bound to a connection pool on ``settings.database.libpq_url`` (:func:`open_queue_app`), and the API
defers jobs on its own request connection (``task.configure(connection=...)``), inside the
transaction that inserts the job row, so a job row and its queue entry exist together or not
at all.
"""

from __future__ import annotations

import procrastinate

from config.settings import get_settings

queue_app = procrastinate.App(
    connector=procrastinate.PsycopgConnector(),
    import_paths=["app.jobs.tasks"],
)


def connected_app(conninfo: str | None = None) -> procrastinate.App:
    """A copy of :data:`queue_app` with a pooled connector on ``conninfo`` (default settings).

    Open it with ``async with app.open_async():`` (or ``with app.open():``).
    """
    url = conninfo or get_settings().database.libpq_url
    connector = procrastinate.PsycopgConnector(
        conninfo=url,
        min_size=1,
        max_size=4,
        kwargs={"application_name": "locus-worker"},
    )
    return queue_app.with_connector(connector)
