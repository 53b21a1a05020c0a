"""The routable network of each mode, rebuilt from PostGIS only when the network changes.

A network is identified by the active ``osm-network`` load that wrote it; its arrays (and the
contraction hierarchy, once built) are cached in memory and as ``.npz`` in
``LOCUS_CACHE_DIR`` keyed by that load id, so a restart does not rebuild it.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import shapely
from sqlalchemy import Connection, Engine, text

from config.settings import get_settings
from spatial.network import Network
from spatial.traveltime import build_ch

MODES = ("drive", "walk", "cycle")
_lock = threading.Lock()
_memory: dict[tuple[str, str, int], Network] = {}


class NoNetworkError(LookupError):
    """No network of that mode is loaded (run ``locus load osm-network <file.osm.pbf>``)."""


def active_network_load(conn: Connection) -> int | None:
    """Id of the active network load (the newest when several regions are loaded)."""
    value = conn.execute(
        text("SELECT max(id) FROM data_loads WHERE dataset = 'osm-network' AND status = 'active'")
    ).scalar()
    return int(value) if value is not None else None


def _from_database(conn: Connection, mode: str, load_id: int) -> Network:
    nodes = conn.execute(
        text(
            "SELECT node_id, coalesce(osm_id, -1), ST_X(geom), ST_Y(geom) FROM network_nodes "
            "WHERE mode = :m AND load_id = :l ORDER BY node_id"
        ),
        {"m": mode, "l": load_id},
    ).all()
    if not nodes:
        raise NoNetworkError(f"no {mode} network loaded")
    edges = conn.execute(
        text(
            "SELECT source, target, length_m, cost_s, reverse_cost_s, coalesce(osm_way_id, -1), "
            "coalesce(highway, ''), ST_AsBinary(geom) FROM network_edges "
            "WHERE mode = :m AND load_id = :l ORDER BY edge_id"
        ),
        {"m": mode, "l": load_id},
    ).all()
    node_arr = np.asarray([n[:4] for n in nodes], dtype=np.float64)
    cols = list(zip(*edges, strict=True))
    return Network(
        mode=mode,
        node_osm_id=node_arr[:, 1].astype(np.int64),
        node_x=node_arr[:, 2],
        node_y=node_arr[:, 3],
        seg_source=np.asarray(cols[0], dtype=np.int64),
        seg_target=np.asarray(cols[1], dtype=np.int64),
        seg_length_m=np.asarray(cols[2], dtype=np.float64),
        seg_fwd_s=np.asarray(cols[3], dtype=np.float64),
        seg_bwd_s=np.asarray(cols[4], dtype=np.float64),
        seg_way_id=np.asarray(cols[5], dtype=np.int64),
        seg_highway=np.asarray(cols[6], dtype=object),
        seg_geometry=np.asarray(shapely.from_wkb([bytes(g) for g in cols[7]]), dtype=object),
        metadata={"network_load_id": load_id, "mode": mode},
    )


def get_network(engine: Engine, mode: str) -> Network:
    """The network of ``mode`` for the active network load (with its contraction hierarchy).

    Raises
    ------
    NoNetworkError
        When no network of that mode is loaded.
    """
    if mode not in MODES:
        raise ValueError(f"mode {mode!r}: expected one of {', '.join(MODES)}")
    with engine.connect() as conn:
        load_id = active_network_load(conn)
        if load_id is None:
            raise NoNetworkError(
                "no road network is loaded: run `locus load osm-network <extract.osm.pbf>`"
            )
        key = (str(engine.url), mode, load_id)
        with _lock:
            if key in _memory:
                return _memory[key]
            cache_dir: Path = get_settings().paths.cache_dir
            cache_dir.mkdir(parents=True, exist_ok=True)
            db_name = engine.url.database or "locus"
            path = cache_dir / f"network_{db_name}_{load_id}_{mode}.npz"
            if path.exists():
                network = Network.load(path)
            else:
                network = _from_database(conn, mode, load_id)
                build_ch(network)
                network.save(path)
            network.metadata["network_load_id"] = load_id
            _memory[key] = network
            return network
