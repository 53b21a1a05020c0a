"""Derived products of the loaded data (stored travel times), refreshed only when stale.

Each product records in ``computations`` the newest data load it was computed from; a
refresh recomputes it only when a newer load exists, so re-running the demo is quick.
"""

from __future__ import annotations

import dataclasses
import json
import time

from sqlalchemy import Engine, text

from app.services.networks import MODES, NoNetworkError
from app.services.traveltimes import MatrixSummary, compute_area_site_times

AREA_SITE_TIMES = "area-site-travel-times"


def newest_load_id(engine: Engine) -> int:
    """Id of the newest active data load (0 when nothing is loaded)."""
    with engine.connect() as conn:
        value = conn.execute(
            text("SELECT coalesce(max(id), 0) FROM data_loads WHERE status = 'active'")
        ).scalar_one()
    return int(value)


def is_current(engine: Engine, kind: str) -> bool:
    """True when ``kind`` was computed from the newest load."""
    with engine.connect() as conn:
        marker = conn.execute(
            text("SELECT max(newest_load_id) FROM computations WHERE kind = :k"), {"k": kind}
        ).scalar()
    return marker is not None and int(marker) >= newest_load_id(engine)


def refresh_computations(engine: Engine, *, force: bool = False) -> list[MatrixSummary]:
    """Recompute the stored area → site travel times when the data changed (or ``force``):
    drive/walk/cycle on the road network, transit on the GTFS feed (each when loaded)."""
    from app.services.transit import refresh_transit_times

    road = _refresh_road_times(engine, force=force)
    return [*road, *refresh_transit_times(engine, force=force)]


def _refresh_road_times(engine: Engine, *, force: bool = False) -> list[MatrixSummary]:
    if not force and is_current(engine, AREA_SITE_TIMES):
        return []
    newest = newest_load_id(engine)
    started = time.perf_counter()
    try:
        summaries = compute_area_site_times(engine, modes=MODES)
    except NoNetworkError:
        return []
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO computations (kind, newest_load_id, parameters, summary, seconds) "
                "VALUES (:k, :n, CAST(:p AS jsonb), CAST(:s AS jsonb), :sec)"
            ),
            {
                "k": AREA_SITE_TIMES,
                "n": newest,
                "p": json.dumps({"modes": list(MODES)}),
                "s": json.dumps([dataclasses.asdict(s) for s in summaries]),
                "sec": time.perf_counter() - started,
            },
        )
    return summaries
