"""Derived products of the loaded data (stored travel times), refreshed only when stale.

Each product records in ``computations`` the newest data load it was computed from and the
model it was computed with (each source's metadata: network load and speeds, snap limit, or
feed, window and percentile). A refresh recomputes a product when a newer load exists or the
model changed (e.g. a network loaded with another walking speed), so re-running the demo is
quick. The modes of one product (the road modes share one) are recomputed together.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from app.services.sources import NoNetworkError, TravelTimeSource
from app.services.traveltimes import (
    MatrixSummary,
    compute_area_site_times,
    product_kind,
    stored_source_metadata,
    travel_time_source,
)
from config.settings import Settings
from spatial.modes import MODES, Mode
from store.connection import Database, database
from store.networks import available_modes
from store.traveltimes import (
    Computation,
    latest_computation,
    newest_load_id,
    record_computation,
)

__all__ = ["AREA_SITE_TIMES", "TRANSIT_TIMES", "is_current", "refresh_computations"]

AREA_SITE_TIMES = product_kind("drive")
TRANSIT_TIMES = product_kind("transit")


def _products() -> dict[str, list[Mode]]:
    """The modes of each product, in registry order."""
    products: dict[str, list[Mode]] = {}
    for mode in MODES:
        products.setdefault(product_kind(mode), []).append(mode)
    return products


def _unchanged(stored: Computation | None, newest: int, sources: list[TravelTimeSource]) -> bool:
    """True when ``stored`` covers the newest load and every source's current model."""
    if stored is None or stored.newest_load_id < newest:
        return False
    for source in sources:
        before = stored_source_metadata(stored, source.mode)
        if before is None or any(before.get(k) != v for k, v in source.metadata.items()):
            return False
    return True


def is_current(db: Database, kind: str) -> bool:
    """True when the product ``kind`` was computed from the newest load."""
    with db.connection() as conn:
        stored = latest_computation(conn, kind)
        return stored is not None and stored.newest_load_id >= newest_load_id(conn)


def refresh_computations(
    settings: Settings, *, force: bool = False, db: Database | None = None
) -> list[MatrixSummary]:
    """Recompute the stored area → site travel times whose data or model changed (all with
    ``force``): drive/walk/cycle on the road network, transit on the GTFS feed, each when
    loaded. Returns one summary per mode recomputed.

    ``db`` defaults to the batch database of ``settings`` (no statement timeout).
    """
    db = db or database(settings.database, purpose="batch")
    with db.connection() as conn:
        newest = newest_load_id(conn)
        loaded = set(available_modes(conn))
    summaries: list[MatrixSummary] = []
    for kind, modes in _products().items():
        sources: list[TravelTimeSource] = []
        for mode in modes:
            if mode not in loaded:
                continue
            try:
                sources.append(travel_time_source(db, settings, mode))
            except NoNetworkError:
                continue
        if not sources:
            continue
        with db.connection() as conn:
            stored = latest_computation(conn, kind)
        if not force and _unchanged(stored, newest, sources):
            continue
        started = time.perf_counter()
        done = [compute_area_site_times(db, source) for source in sources]
        metas = [meta for _, meta in done]
        parameters: dict[str, Any] = (
            metas[0] if len(metas) == 1 else {"modes": [s.mode for s in sources], "sources": metas}
        )
        with db.connection() as conn:
            record_computation(
                conn,
                kind=kind,
                newest_load_id=newest,
                parameters=parameters,
                summary=[dataclasses.asdict(summary) for summary, _ in done],
                seconds=time.perf_counter() - started,
            )
        summaries.extend(summary for summary, _ in done)
    return summaries
