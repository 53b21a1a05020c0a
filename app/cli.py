"""The ``locus`` command: set up the database, load data, compute, serve.

Commands delegate: the database to ``store``, loading to ``etl``, computing to ``spatial``
(through ``app.services.compute``), serving to ``app.main``. Each command is an entry point:
it reads the settings once (:func:`config.settings.get_settings`) and passes them on. Errors
a user can fix are printed as one clear message, exit code 1.

Commands import what they use inside their own body, so ``locus --help`` and the light
commands start without loading pandas, GeoPandas, osmium or FastAPI.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from config.settings import Settings, get_settings
from etl.readers.common import Progress

cli = typer.Typer(
    name="locus",
    help="Locus: open geospatial estate planning (NHS, councils, One Public Estate).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _fail(message: str) -> NoReturn:
    console.print(f"[bold red]error:[/] {message}", markup=True, highlight=False)
    raise typer.Exit(code=1)


@cli.command("db-create")
def db_create() -> None:
    """Create the database named in LOCUS_DATABASE_URL when it does not exist."""
    from store.admin import create_database

    created = create_database(get_settings().database)
    if created:
        console.print(f"created database {created}")


@cli.command()
def migrate() -> None:
    """Upgrade the database schema to the newest migration (alembic upgrade head)."""
    from store.admin import upgrade_head

    upgrade_head(get_settings().database)


@cli.command()
def load(
    dataset: Annotated[str, typer.Argument(help="dataset name; `locus datasets` lists them")],
    path: Annotated[Path, typer.Argument(help="the file to load")],
    region: Annotated[
        str,
        typer.Option(
            help="local authority code (e.g. E06000017) or bbox minlon,minlat,maxlon,maxlat"
        ),
    ] = "",
    allow_rejects: Annotated[
        int, typer.Option(help="load anyway when up to this many rows are rejected")
    ] = 0,
    allow_outside_region: Annotated[
        bool, typer.Option(help="load a GTFS feed even when none of its stops is in --region")
    ] = False,
    allow_shrink: Annotated[
        bool,
        typer.Option(
            "--allow-shrink",
            help="load even when the file would remove more than LOCUS_LOAD_MAX_SHRINK "
            "(default 10%) of the rows the region holds",
        ),
    ] = False,
) -> None:
    """Validate a file and load it atomically (all or nothing), recording provenance."""
    from etl.datasets import DATASETS, load_dataset
    from etl.loading import LoadError

    settings = get_settings()
    if dataset not in DATASETS:
        _fail(f"unknown dataset {dataset!r}; known: {', '.join(sorted(DATASETS))}")
    try:
        with _progress(f"{dataset} ← {path.name}") as progress:
            summary = load_dataset(
                settings,
                dataset,
                path,
                region=region,
                allow_rejects=allow_rejects,
                allow_shrink=allow_shrink,
                progress=progress,
                allow_outside_region=allow_outside_region,
            )
    except LoadError as exc:
        _fail(f"load refused, nothing changed:\n{exc}")
    except ValueError as exc:
        _fail(str(exc))
    _print_summary(summary)


@cli.command()
def datasets() -> None:
    """List the datasets `locus load` understands."""
    from etl.datasets import DATASETS

    table = Table("dataset", "scope", "what")
    for name, ds in sorted(DATASETS.items()):
        table.add_row(name, "national" if ds.national else "regional", ds.description)
    Console().print(table)


@cli.command()
def loads() -> None:
    """Show the provenance of every load (newest first)."""
    from store.admin import load_history
    from store.connection import database

    table = Table(
        "id", "dataset", "region", "file", "vintage", "loaded", "rejected", "status", "changes"
    )
    for r in load_history(database(get_settings().database)):
        changes = "; ".join(
            f"{name} +{c['added']} -{c['removed']} ~{c['changed']}"
            for name, c in (r["changes"] or {}).items()
        )
        shown = [v for k, v in r.items() if k != "changes"]
        table.add_row(*(str(v) if v is not None else "" for v in shown), changes)
    Console().print(table)


@cli.command()
def compute(
    force: Annotated[bool, typer.Option(help="recompute even when nothing changed")] = False,
) -> None:
    """Compute the stored area → site travel times for every mode (when the data changed)."""
    from app.services.compute import refresh_computations
    from config.settings import get_settings

    summaries = refresh_computations(get_settings(), force=force)
    if not summaries:
        console.print("travel times are up to date (or no network is loaded)")
    for s in summaries:
        console.print(
            f"{s.mode}: {s.areas} areas × {s.sites} sites → {s.pairs:,} pairs"
            + (f"; unreachable areas {s.unreachable_areas}" if s.unreachable_areas else "")
            + (f"; unreachable sites {s.unreachable_sites}" if s.unreachable_sites else "")
        )


@cli.command()
def demo(
    serve: Annotated[bool, typer.Option(help="serve the API and map when loaded")] = True,
    bundle: Annotated[
        str, typer.Option(help="data bundle: rutland or isle-of-wight (public transport)")
    ] = "rutland",
) -> None:
    """Load a real data bundle (default Rutland), compute, and serve on http://127.0.0.1:8000.

    On a loopback address the demo is single-user: callers without an API key may run
    analyses (LOCUS_ANONYMOUS_ROLE=analyst unless set); restricted data stays private.
    """
    from app.demo import BUNDLES, load_demo
    from etl.loading import LoadError

    settings = get_settings()
    if bundle not in BUNDLES:
        _fail(f"--bundle {bundle!r}: expected one of {', '.join(BUNDLES)}")
    try:
        summaries = load_demo(settings, progress_factory=_progress, bundle=BUNDLES[bundle])
    except (LoadError, ValueError, FileNotFoundError) as exc:  # what failed, then stop
        _fail(str(exc))
    for summary in summaries:
        _print_summary(summary)
    if serve:
        if settings.api.host in _LOOPBACK and "LOCUS_ANONYMOUS_ROLE" not in os.environ:
            settings = settings.model_copy(
                update={"api": settings.api.model_copy(update={"anonymous_role": "analyst"})}
            )
            # Processes started below (the job worker) read their settings from the
            # environment, as every entry point does.
            os.environ["LOCUS_ANONYMOUS_ROLE"] = "analyst"
        _serve(settings, with_worker=True)


@cli.command("serve")
def serve_command(
    host: Annotated[str | None, typer.Option(help="bind address")] = None,
    port: Annotated[int | None, typer.Option(help="port")] = None,
    workers: Annotated[int, typer.Option(help="uvicorn worker processes")] = 1,
    with_worker: Annotated[
        bool, typer.Option(help="also run a job worker process beside the API")
    ] = False,
) -> None:
    """Serve the API (and the web map) with uvicorn."""
    _serve(get_settings(), host=host, port=port, workers=workers, with_worker=with_worker)


def _serve(
    settings: Settings,
    *,
    host: str | None = None,
    port: int | None = None,
    workers: int = 1,
    with_worker: bool = False,
) -> None:
    """Run uvicorn on ``create_app(settings)`` (several workers import ``app.main:app``,
    which reads the environment), with a job worker process beside it if asked.

    On SIGTERM uvicorn shuts down gracefully and then raises the signal again with the
    handler it found; that handler is :func:`_exit_on_sigterm` here, so the ``finally`` below
    still stops the job worker (with Python's default handler the process would die at once
    and leave the worker running, holding its database connections).
    """
    import signal
    import subprocess
    import sys

    import uvicorn

    from app.main import create_app

    bind_host = host or settings.api.host
    bind_port = port or settings.api.port
    # Links are built on the configured base URL (LOCUS_BASE_URL), else on the address
    # served: the one given here. Several workers import app.main, which reads the env.
    api = settings.api.model_copy(update={"host": bind_host, "port": bind_port})
    settings = settings.model_copy(update={"api": api})
    os.environ["LOCUS_BASE_URL"] = api.public_url
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    job_worker: subprocess.Popen[bytes] | None = None
    try:
        if with_worker:
            job_worker = subprocess.Popen([sys.executable, "-m", "app.cli", "worker"])
        console.print(f"serving Locus on http://{bind_host}:{bind_port} (links: {api.public_url})")
        uvicorn.run(
            create_app(settings) if workers == 1 else "app.main:app",
            host=bind_host,
            port=bind_port,
            workers=workers,
            log_level="warning",
        )
    finally:
        if job_worker is not None:
            job_worker.terminate()
            job_worker.wait(timeout=30)
        signal.signal(signal.SIGTERM, previous)


def _exit_on_sigterm(signum: int, frame: object) -> None:
    """SIGTERM as ``SystemExit`` (status 128 + 15, as the signal would give) so ``finally``
    blocks run."""
    raise SystemExit(128 + signum)


@cli.command()
def worker() -> None:
    """Run the job worker (OGC API Processes jobs queued in PostgreSQL)."""
    from app.jobs.worker import run_worker

    run_worker()


keys = typer.Typer(help="Manage API keys (stored hashed; shown once when created).")
cli.add_typer(keys, name="keys")


def _role(value: str) -> str:
    """``--role`` one of :data:`store.access.ROLES`, else a usage error naming them (exit 2)."""
    from store.keys import check_role

    try:
        return check_role(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc


@keys.command("create")
def keys_create(
    org: Annotated[str, typer.Option(help="organisation the key belongs to")],
    role: Annotated[
        str,
        typer.Option(help="what the key may do: viewer, analyst or admin", callback=_role),
    ],
    label: Annotated[str, typer.Option(help="a note to recognise the key by")] = "",
) -> None:
    """Create an API key and print it (the only time the secret is shown)."""
    from store.connection import database
    from store.keys import create_api_key

    try:
        key = create_api_key(database(get_settings().database), org, role, label=label)
    except ValueError as exc:  # an unknown role or a malformed organisation
        _fail(str(exc))
    typer.echo(key)


@keys.command("revoke")
def keys_revoke(key: Annotated[str, typer.Argument(help="the key or its id")]) -> None:
    """Revoke an API key."""
    from store.connection import database
    from store.keys import revoke_api_key

    if not revoke_api_key(database(get_settings().database), key):
        _fail(f"no active key {key!r}")
    console.print("revoked")


@keys.command("list")
def keys_list(
    org: Annotated[str | None, typer.Option(help="only this organisation")] = None,
) -> None:
    """List API keys (ids, organisations, roles; never the secrets)."""
    from store.connection import database
    from store.keys import list_api_keys

    rows = list_api_keys(database(get_settings().database), org)
    table = Table("id", "organisation", "role", "label", "created", "revoked")
    for r in rows:
        table.add_row(
            *(
                str(r.get(k, "") or "")
                for k in ("id", "organisation", "role", "label", "created_at", "revoked_at")
            )
        )
    Console().print(table)


@contextmanager
def _progress(description: str) -> Iterator[Progress]:
    """A rich progress bar, handed to readers as a ``progress(completed, total)`` callback."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task(description, total=None)

        def advance(completed: int, total: int | None) -> None:
            bar.update(task, completed=completed, total=total)

        yield advance


def _print_summary(summary: object) -> None:
    from etl.loading import LoadSummary

    assert isinstance(summary, LoadSummary)
    title = (
        f"{summary.dataset} ← {summary.file_name}"
        + (f" (region {summary.region})" if summary.region else "")
        + f": {summary.status}"
    )
    table = Table(title=title, show_header=False)
    table.add_row("load id", str(summary.load_id))
    table.add_row("vintage", summary.vintage or "")
    table.add_row("rows read", f"{summary.rows_read:,}")
    for name, n in summary.rows_loaded.items():
        table.add_row(f"rows loaded into {name}", f"{n:,}")
    table.add_row("rows rejected", f"{summary.rows_rejected:,}")
    if summary.superseded:
        table.add_row("replaced loads", ", ".join(map(str, summary.superseded)))
    for name, changes in summary.changes.items():
        table.add_row(f"changes in {name}", changes.describe())
        for kind, examples in changes.examples.items():
            table.add_row(f"  {kind}", "; ".join(examples))
    for note in summary.notes:
        table.add_row("note", note)
    Console().print(table)


def main() -> None:
    """Entry point of the ``locus`` console script."""
    cli()


if __name__ == "__main__":
    main()
