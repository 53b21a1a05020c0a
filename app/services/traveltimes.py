"""Area-to-site travel times per mode, computed on the network and stored in PostGIS.

Every area's representative point and every located active site are snapped to the network
of the mode (points farther than ``LOCUS_MAX_SNAP_DISTANCE_M`` are reported, not moved), the
full matrix is computed by :func:`spatial.traveltime.travel_time_array`, and the rows replace
the previous ones for that mode in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, text

from app.services.networks import MODES, get_network
from config.settings import get_settings
from spatial.network import Network, SnappedPoints, snap_points
from spatial.traveltime import travel_time_array


@dataclass
class MatrixSummary:
    """What a travel-time computation did, for the CLI and job results."""

    mode: str
    areas: int
    sites: int
    pairs: int
    unreachable_areas: list[str] = field(default_factory=list)
    unreachable_sites: list[int] = field(default_factory=list)
    network_load_id: int = 0


def area_points(conn: Connection) -> pd.DataFrame:
    """Areas' representative points: ``code, vintage, x, y`` (EPSG:27700)."""
    return pd.read_sql(
        text("SELECT code, vintage, ST_X(rep_point) AS x, ST_Y(rep_point) AS y FROM areas"),
        conn,
    )


def site_points(conn: Connection, *, kinds: list[str] | None = None) -> pd.DataFrame:
    """Located active sites: ``id, kind, name, x, y`` (EPSG:27700)."""
    sql = (
        "SELECT id, kind, name, source_id, ST_X(geom) AS x, ST_Y(geom) AS y FROM sites "
        "WHERE geom IS NOT NULL AND status = 'active'"
    )
    params: dict[str, Any] = {}
    if kinds:
        sql += " AND kind = ANY(:kinds)"
        params["kinds"] = kinds
    return pd.read_sql(text(sql + " ORDER BY id"), conn, params=params)


def snap(network: Network, frame: pd.DataFrame, id_column: str) -> SnappedPoints:
    """Snap a frame's ``x, y`` points to ``network`` with the configured limits."""
    settings = get_settings()
    return snap_points(
        network,
        frame["x"].to_numpy(),
        frame["y"].to_numpy(),
        ids=frame[id_column].to_numpy(),
        max_distance_m=settings.travel.max_snap_distance_m,
        access_speed_m_s=settings.travel.walk_speed_kmh / 3.6,
    )


def replace_travel_times(
    conn: Connection,
    mode: str,
    *,
    area_codes: Any,
    area_vintages: Any,
    site_ids: Any,
    seconds: Any,
    network_load_id: Any,
) -> int:
    """Replace the stored area → site times of ``mode`` by these rows (COPY); returns the row count.

    The array arguments are parallel (one element per area → site pair); ``network_load_id`` is
    one value stored on every row.
    """
    rows = pd.DataFrame(
        {
            "mode": mode,
            "area_code": area_codes,
            "area_vintage": area_vintages,
            "site_id": site_ids,
            "seconds": seconds,
            "network_load_id": network_load_id,
        }
    )
    conn.execute(text("DELETE FROM travel_times WHERE mode = :m"), {"m": mode})
    raw = conn.connection.driver_connection
    assert raw is not None
    with (
        raw.cursor() as cur,
        cur.copy(
            "COPY travel_times (mode, area_code, area_vintage, site_id, seconds, "
            "network_load_id) FROM STDIN"
        ) as copy,
    ):
        for row in rows.itertuples(index=False, name=None):
            copy.write_row(row)
    return len(rows)


def compute_area_site_times(
    engine: Engine, *, modes: tuple[str, ...] = MODES
) -> list[MatrixSummary]:
    """Compute and store area → site travel times for each mode; returns one summary per mode."""
    summaries = []
    for mode in modes:
        network = get_network(engine, mode)
        with engine.begin() as conn:
            areas = area_points(conn)
            sites = site_points(conn)
            areas["key"] = np.arange(len(areas))
            origins = snap(network, areas, "key")
            targets = snap(network, sites, "id")
            times = travel_time_array(network, origins, targets)
            ii, jj = np.nonzero(np.isfinite(times))
            pairs = replace_travel_times(
                conn,
                mode,
                area_codes=areas["code"].to_numpy()[ii],
                area_vintages=areas["vintage"].to_numpy()[ii],
                site_ids=sites["id"].to_numpy()[jj],
                seconds=times[ii, jj],
                network_load_id=network.metadata["network_load_id"],
            )
        summaries.append(
            MatrixSummary(
                mode=mode,
                areas=len(areas),
                sites=len(sites),
                pairs=pairs,
                unreachable_areas=[
                    str(areas["code"].iloc[i]) for i in np.flatnonzero(~origins.reachable)
                ],
                unreachable_sites=[int(s) for s in sites["id"].to_numpy()[~targets.reachable]],
                network_load_id=int(network.metadata["network_load_id"]),
            )
        )
    return summaries


def stored_times(conn: Connection, *, mode: str, area_vintage: int = 2021) -> pd.DataFrame:
    """Stored area → site times as a long frame ``from_id, to_id, mode, seconds``."""
    return pd.read_sql(
        text(
            "SELECT area_code AS from_id, site_id AS to_id, mode, seconds FROM travel_times "
            "WHERE mode = :m AND area_vintage = :v"
        ),
        conn,
        params={"m": mode, "v": area_vintage},
    )
