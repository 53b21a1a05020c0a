"""The national ERIC returns the estate benchmark compares every site and trust with.

Open data (NHS Digital publishes every trust's return), so no principal: no row is
restricted. Written only by the load pipeline (dataset ``eric-benchmark``).
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from psycopg import Connection, sql

from store.connection import read_frame

__all__ = ["RETURN_COLUMNS", "benchmark_load", "eric_returns"]

#: Columns of :func:`eric_returns`.
RETURN_COLUMNS = (
    "organisation_code",
    "organisation_name",
    "organisation_type",
    "commissioning_region",
    "site_code",
    "site_name",
    "site_type",
    "aggregate",
    "gia_m2",
    "occupied_m2",
    "running_cost_gbp",
    "backlog_high_gbp",
    "backlog_significant_gbp",
    "backlog_moderate_gbp",
    "backlog_low_gbp",
    "pre_1948_pct",
    "empty_pct",
    "under_used_pct",
    "energy_cost_gbp",
)


def eric_returns(conn: Connection[Any]) -> pd.DataFrame:
    """Every stored ERIC return row (all of England), ordered by trust and site code."""
    frame = read_frame(
        conn,
        sql.SQL("SELECT {cols} FROM eric_returns ORDER BY organisation_code, site_code").format(
            cols=sql.SQL(", ").join(sql.Identifier(c) for c in RETURN_COLUMNS)
        ),
    )
    if frame.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in RETURN_COLUMNS})
    numeric = list(RETURN_COLUMNS[8:])
    frame[numeric] = frame[numeric].apply(pd.to_numeric, errors="coerce").astype("float64")
    frame["aggregate"] = frame["aggregate"].astype(bool)
    return frame


def benchmark_load(conn: Connection[Any]) -> dict[str, Any] | None:
    """The active ``eric-benchmark`` load: ``id, file_name, vintage, licence, finished_at``."""
    row = conn.execute(
        "SELECT id, file_name, vintage, licence, finished_at FROM data_loads "
        "WHERE dataset = 'eric-benchmark' AND status = 'active' ORDER BY id DESC LIMIT 1"
    ).fetchone()
    if row is None:
        return None
    return {
        "load_id": int(row[0]),
        "file_name": str(row[1]),
        "vintage": row[2],
        "licence": row[3],
        "loaded_at": None if row[4] is None else row[4].isoformat(),
    }
