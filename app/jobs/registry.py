"""The process framework: what a process is, how its inputs are checked, how it reports.

A :class:`Process` is a pydantic ``inputs`` model (validation and the OGC input description
both come from it), a ``run(context, inputs) -> results`` function executed in the worker,
the role needed to execute it, and optional result exports (``f=csv``, ``f=gpkg``). Adding a
process (catchments, scenario evaluation) is one module defining a :class:`Process` and one
line in :mod:`app.jobs.processes`.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

from psycopg import AsyncConnection
from pydantic import AfterValidator, BaseModel, Field, ValidationError

from app.errors import InvalidParameter
from config.settings import Settings
from spatial.kinds import KIND_PATTERN, is_kind
from store.access import Principal, Role
from store.connection import Database


def _site_kind(value: str) -> str:
    if not is_kind(value):
        raise ValueError(
            f"site kind {value!r} is not a kind name (a lower-case letter, then 1 to 62 "
            "lower-case letters, digits or underscores, e.g. gp_practice)"
        )
    return value


#: A site kind in a process's inputs: the one kind rule (:func:`spatial.kinds.is_kind`),
#: published as :data:`spatial.kinds.KIND_PATTERN` in the input's schema.
SiteKind = Annotated[
    str, AfterValidator(_site_kind), Field(json_schema_extra={"pattern": KIND_PATTERN})
]


class ProcessError(Exception):
    """A failure the job reports to its user as-is (bad data, infeasible problem...)."""


class JobDismissed(Exception):
    """Raised inside a running process when its job was dismissed (it stops cooperatively)."""


@dataclass
class RunContext:
    """What a running process gets from the worker.

    ``settings`` are the worker's (read once when it started; job settings are
    ``settings.jobs``); ``db`` is the worker's batch :class:`store.connection.Database` on
    ``settings.database``, for the :mod:`store` and service functions a process calls.

    ``progress(percent, message)`` records progress (throttled to one write per
    ``settings.jobs.progress_min_interval_s``) and raises :class:`JobDismissed` when the job
    was dismissed, so long loops stop at their next report.
    """

    job_id: str
    attempt: int
    organisation: str | None
    settings: Settings
    db: Database
    report: Callable[[int, str], bool]
    should_abort: Callable[[], bool]
    _last: float = field(default=0.0, repr=False)
    _last_percent: int = field(default=-1, repr=False)

    def progress(self, percent: float, message: str, *, force: bool = False) -> None:
        """Report ``percent`` (0–100) done with ``message``; stop if the job was dismissed."""
        if self.should_abort():
            raise JobDismissed(self.job_id)
        pct = max(0, min(100, round(percent)))
        now = time.monotonic()
        min_interval = self.settings.jobs.progress_min_interval_s
        if not force and now - self._last < min_interval and pct != 100:
            return
        self._last = now
        self._last_percent = pct
        if not self.report(pct, message):
            # the job left 'running' behind our back (dismissed): stop
            raise JobDismissed(self.job_id)

    @property
    def principal(self) -> Principal:
        """The organisation the job runs for (role is irrelevant inside the worker)."""
        return Principal(organisation=self.organisation, role="viewer")


Exporter = Callable[[AsyncConnection[Any], dict[str, Any]], Awaitable[tuple[bytes, str, str]]]
"""``(conn, results) -> (content, media type, file name)`` for a download format."""

Precheck = Callable[[AsyncConnection[Any], Any, Principal], Awaitable[None]]
"""Checks against the database before a job is accepted; raises InvalidParameter."""

Redactor = Callable[[AsyncConnection[Any], dict[str, Any], Principal], Awaitable[dict[str, Any]]]
"""``(conn, results, caller) -> results``: the stored results as shown to a caller who may see
the job (its JSON and every download), e.g. without data sources the caller may not see."""


@dataclass(frozen=True)
class Process:
    """One OGC API process."""

    id: str
    title: str
    description: str
    inputs: type[BaseModel]
    run: Callable[[RunContext, Any], dict[str, Any]]
    outputs: dict[str, dict[str, Any]]
    role: Role = "analyst"
    version: str = "1.0.0"
    keywords: tuple[str, ...] = ()
    precheck: Precheck | None = None
    exports: dict[str, Exporter] = field(default_factory=dict)
    redact: Redactor | None = None

    def parse(self, raw: Any) -> BaseModel:
        """Validated inputs; :class:`InvalidParameter` naming the first bad input."""
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise InvalidParameter("'inputs' must be a JSON object", parameter="inputs")
        try:
            return self.inputs.model_validate(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            loc = [str(p) for p in first.get("loc", ())]
            name = loc[0] if loc else "inputs"
            where = ".".join(loc) if loc else "inputs"
            raise InvalidParameter(
                f"input {where!r}: {first.get('msg', 'invalid')}", parameter=name
            ) from None

    def describe_inputs(self) -> dict[str, Any]:
        """OGC input descriptions (title, description, schema, min/maxOccurs) per input."""
        schema = self.inputs.model_json_schema()
        defs = schema.get("$defs", {})
        required = set(schema.get("required", []))
        out: dict[str, Any] = {}
        for name, prop in schema.get("properties", {}).items():
            prop = dict(prop)
            title = prop.pop("title", name)
            description = prop.pop("description", "")
            if defs:
                prop = _inline_refs(prop, defs)
            out[name] = {
                "title": title,
                "description": description,
                "schema": prop,
                "minOccurs": 1 if name in required else 0,
                "maxOccurs": 1,
            }
        return out


def _inline_refs(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return _inline_refs(defs[ref.removeprefix("#/$defs/")], defs)
        return {k: _inline_refs(v, defs) for k, v in node.items()}
    if isinstance(node, list):
        return [_inline_refs(v, defs) for v in node]
    return node
