"""The estate register, asset uploads, co-location runs and scenario evaluation on PostGIS.

Synchronous (SQLAlchemy engine; routers call through ``run_in_threadpool``, jobs directly).
The computations are the pure functions of :mod:`spatial.estate`, :mod:`spatial.colocation`
and :mod:`spatial.scenario`; this module only reads the database, applies the caller's
visibility (:func:`app.auth.visible_sites_clause`: restricted rows of other organisations are
never read) and turns results into JSON.

Site references in scenarios
    A scenario names sites by ``sites.id`` (as text, e.g. ``"1234"``) or by a ``source_id``
    (e.g. the ODS code ``"C82077"``) when that code names exactly one visible site; on save
    every reference is rewritten to the ``sites.id`` so a stored definition is unambiguous.
    Travel times are keyed by ``sites.id`` too.

Uploaded assets
    ``POST /estate/assets`` is a data load like any other: dataset ``assets:<organisation>``
    recorded in ``data_loads``; a new upload by the same organisation replaces its previous
    upload atomically (same file twice: nothing changes). Sites get source
    ``assets:<organisation>``, ``organisation`` = the caller's and ``restricted`` from the
    request (or a per-row ``restricted`` column).
"""

from __future__ import annotations

import json
import math
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from psycopg import sql
from pyproj import Transformer
from sqlalchemy import Connection, Engine, text

from etl.loading import (
    LoadError,
    LoadSummary,
    ParsedFile,
    Region,
    Reject,
    advisory_xact_lock,
    load_parsed,
)
from spatial import estate as est
from spatial.colocation import ClusterResult, ScoreWeights, find_colocation_clusters
from spatial.scenario import (
    AccessSummary,
    ChangeCapacity,
    CloseSites,
    EstateChange,
    ModeResult,
    MoveService,
    OpenSite,
    Scenario,
    ScenarioError,
    ScenarioResult,
    evaluate_scenario,
    validate_scenario,
)
from store.access import Principal
from store.access import visible_rows as visible_sites_clause

AREA_VINTAGE = 2021
BNG = 27700
_TO_BNG = Transformer.from_crs(4326, BNG, always_xy=True)
_TO_WGS = Transformer.from_crs(BNG, 4326, always_xy=True)

# ------------------------------------------------------------------------------- helpers


def _key(column: str) -> str:
    """The snake-case key the ERIC reader stores an ERIC column under (``etl.readers.eric``)."""
    return re.sub(r"_+", "_", re.sub(r"[^a-z0-9]+", "_", column.lower())).strip("_")


#: stored ``attributes`` key → ERIC header used by :mod:`spatial.estate`.
_ERIC_HEADERS = {
    _key(h): h
    for h in (
        est.ERIC_GIA,
        est.ERIC_OCCUPIED,
        est.ERIC_LAND_HA,
        est.ERIC_LAND_NOT_DELIVERING_HA,
        est.ERIC_NOT_SUITABLE_PCT,
        est.ERIC_EMPTY_PCT,
        est.ERIC_UNDER_USED_PCT,
        est.ERIC_AGE_PRE_1948,
        *est.ERIC_RUNNING_COST_COLUMNS,
        *est.ERIC_BACKLOG_COLUMNS,
    )
}


def eric_attributes(attrs: Mapping[str, Any] | None) -> dict[str, Any]:
    """Stored site attributes with ERIC snake-case keys renamed to the published headers."""
    if not attrs:
        return {}
    return {_ERIC_HEADERS.get(k, k): v for k, v in attrs.items()}


def clean(value: Any) -> Any:
    """JSON-safe value: NaN/inf → None, numpy scalars → Python, containers recursively."""
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    if isinstance(value, np.ndarray):
        return [clean(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is pd.NaT:
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """DataFrame rows as JSON-safe dicts."""
    return [clean(dict(r)) for r in frame.to_dict(orient="records")]


def _query_frame(
    conn: Connection, query: sql.Composable, params: Mapping[str, Any], columns: Sequence[str]
) -> pd.DataFrame:
    raw = conn.connection.driver_connection
    assert raw is not None
    rows = raw.execute(query, dict(params)).fetchall()
    return pd.DataFrame(rows, columns=list(columns))


SITE_COLUMNS = (
    "id",
    "source",
    "source_id",
    "name",
    "kind",
    "owner",
    "owner_type",
    "status",
    "tenure",
    "gia_m2",
    "land_ha",
    "running_cost_gbp",
    "backlog_gbp",
    "postcode",
    "organisation",
    "restricted",
    "attributes",
    "x",
    "y",
)


def visible_sites(
    conn: Connection,
    principal: Principal,
    *,
    kinds: Sequence[str] | None = None,
    owner_types: Sequence[str] | None = None,
    located_only: bool = False,
    active_only: bool = True,
) -> pd.DataFrame:
    """Sites the caller may see, with ``x``/``y`` (EPSG:27700, NaN when unlocated)."""
    vis, params = visible_sites_clause(principal, alias="s")
    where = [vis]
    values: dict[str, Any] = dict(params)
    if kinds:
        where.append(sql.SQL("s.kind = ANY(%(kinds)s)"))
        values["kinds"] = list(kinds)
    if owner_types:
        where.append(sql.SQL("s.owner_type = ANY(%(owner_types)s)"))
        values["owner_types"] = list(owner_types)
    if located_only:
        where.append(sql.SQL("s.geom IS NOT NULL"))
    if active_only:
        where.append(sql.SQL("s.status = 'active'"))
    query = sql.SQL(
        "SELECT s.id, s.source, s.source_id, s.name, s.kind, s.owner, s.owner_type, s.status, "
        "s.tenure, s.gia_m2, s.land_ha, s.running_cost_gbp, s.backlog_gbp, s.postcode, "
        "s.organisation, s.restricted, s.attributes, ST_X(s.geom), ST_Y(s.geom) "
        "FROM sites AS s WHERE {where} ORDER BY s.id"
    ).format(where=sql.SQL(" AND ").join(where))
    frame = _query_frame(conn, query, values, SITE_COLUMNS)
    for col in ("gia_m2", "land_ha", "running_cost_gbp", "backlog_gbp", "x", "y"):
        frame[col] = pd.to_numeric(frame[col], errors="coerce").astype("float64")
    return frame


def _lonlat(x: pd.Series, y: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    lon, lat = _TO_WGS.transform(x.to_numpy(dtype=float), y.to_numpy(dtype=float))
    return np.round(np.asarray(lon), 6), np.round(np.asarray(lat), 6)


# ------------------------------------------------------------------------------- register

REGISTER_FIELDS = (
    "id",
    "source",
    "source_id",
    "name",
    "kind",
    "owner",
    "owner_type",
    "status",
    "tenure",
    "postcode",
    "restricted",
    "gia_m2",
    "land_ha",
    "running_cost_gbp",
    "backlog_gbp",
    "cost_per_m2_gbp",
    "backlog_per_m2_gbp",
    "pre_1948_share",
    "empty_pct",
    "under_used_pct",
    "not_suitable_pct",
    "occupied_share",
    "land_not_delivering_ha",
    "flag_empty",
    "flag_under_used",
    "flag_not_suitable",
    "flag_surplus_land",
    "utilisation_flags",
    "lon",
    "lat",
)


def estate_register(
    engine: Engine,
    principal: Principal,
    *,
    kinds: Sequence[str] | None = None,
    owner_types: Sequence[str] | None = None,
    flagged_only: bool = False,
    limit: int = 100,
    offset: int = 0,
    thresholds: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """The public estate (every owner) with derived per-site figures and a summary."""
    with engine.connect() as conn:
        sites = visible_sites(conn, principal, kinds=kinds, owner_types=owner_types)
    sites["attributes"] = pd.Series(
        [eric_attributes(a) for a in sites["attributes"]], index=sites.index, dtype=object
    )
    derived = est.derive_estate_metrics(sites, **dict(thresholds or {}))
    if flagged_only:
        derived = derived[derived["utilisation_flags"] != ""]
    lon, lat = _lonlat(derived["x"], derived["y"])
    derived = derived.assign(lon=lon, lat=lat)
    page = derived.iloc[offset : offset + limit]
    gia = derived["gia_m2"]
    summary = {
        "sites": len(derived),
        "by_owner_type": {str(k): int(v) for k, v in derived["owner_type"].value_counts().items()},
        "by_kind": {str(k): int(v) for k, v in derived["kind"].value_counts().items()},
        "gia_m2": float(gia.sum()),
        "running_cost_gbp": float(derived["running_cost_gbp"].sum()),
        "backlog_gbp": float(derived["backlog_gbp"].sum()),
        "flagged_sites": int((derived["utilisation_flags"] != "").sum()),
    }
    try:
        summary["cost_per_m2_gbp"] = est.estate_cost_per_m2(derived)
    except ValueError:
        summary["cost_per_m2_gbp"] = None
    return {
        "numberMatched": len(derived),
        "numberReturned": len(page),
        "sites": records(page[list(REGISTER_FIELDS)]),
        "summary": clean(summary),
        "definitions": {
            "cost_per_m2_gbp": "running cost (hard/soft FM, energy, utilities, waste; £/year) "
            "/ gross internal floor area",
            "backlog_per_m2_gbp": "backlog (high+significant+moderate+low risk, £) / GIA",
            "pre_1948_share": "ERIC 'Age profile - pre 1948 (%)' / 100",
            "flags": "empty > 5 %, under-used > 10 %, not functionally suitable > 20 % of "
            "floor area; land not delivering services > 0 ha (ERIC)",
        },
    }


def eric_cost_per_m2(conn: Connection) -> float | None:
    """Floor-area-weighted ERIC running cost (£/m²/year) over the loaded ERIC sites."""
    frame = pd.read_sql(
        text(
            "SELECT kind, gia_m2, running_cost_gbp FROM sites WHERE source = 'eric' "
            "AND NOT restricted"
        ),
        conn,
    )
    if frame.empty:
        return None
    try:
        return est.estate_cost_per_m2(frame)
    except ValueError:
        return None


# ------------------------------------------------------------------------------- uploads

ASSET_COLUMNS = {
    "asset_id": "your identifier of the asset (unique in the file; default: its name and "
    "postcode): a re-upload updates the asset with the same identifier, keeping its site id",
    "name": "required: the asset's name",
    "kind": "required: a site kind, lower case (e.g. council_building, gp_practice, clinic)",
    "owner": "the owning organisation's name (default: your organisation)",
    "owner_type": "e.g. council, nhs_trust, police, fire (default: partner)",
    "tenure": "freehold | leasehold | ... (freehold buildings can host co-location hubs)",
    "gia_m2": "gross internal floor area, m² (>= 0)",
    "land_ha": "land area, hectares (>= 0)",
    "running_cost_gbp": "annual running cost, £ (>= 0)",
    "backlog_gbp": "backlog maintenance, £ (>= 0)",
    "lon, lat": "WGS84 position, or",
    "easting, northing": "British National Grid (EPSG:27700) position, or",
    "geometry": "WKT in WGS84 (CSV) / the layer's geometry (GeoPackage; polygons → a point "
    "inside), or",
    "postcode": "located by the loaded postcodes when no position is given",
    "restricted": "true/false per row (default: the upload's 'restricted' field)",
}
_KIND = re.compile(r"^[a-z][a-z0-9_]{1,62}$")
_NUMBERS = ("gia_m2", "land_ha", "running_cost_gbp", "backlog_gbp")
_TRUE = {"true", "t", "yes", "y", "1"}
_FALSE = {"false", "f", "no", "n", "0", ""}
MAX_ASSET_ROWS = 20_000


def _read_upload(path: Path) -> tuple[pd.DataFrame, np.ndarray | None]:
    """Rows as strings with ``_row`` (file line / feature number), plus GPKG geometries."""
    from etl.readers.common import read_csv

    if path.suffix.lower() in (".gpkg", ".geopackage"):
        import pyogrio

        try:
            gdf = pyogrio.read_dataframe(path)
        except Exception as exc:  # any GDAL failure means a bad file
            raise LoadError(path, f"not a readable GeoPackage ({exc})") from exc
        if gdf.crs is None and len(gdf):
            raise LoadError(path, "the GeoPackage layer has no CRS")
        geo = gdf.to_crs(BNG) if len(gdf) else gdf
        geoms = np.asarray(geo.geometry.to_numpy(), dtype=object)
        frame = pd.DataFrame(gdf.drop(columns=gdf.geometry.name))
        frame = frame.astype(object).where(frame.notna(), "").astype(str)
        frame.insert(0, "_row", np.arange(1, len(frame) + 1))
        frame.columns = ["_row", *[str(c).strip().lower() for c in frame.columns[1:]]]
        return frame, geoms
    frame = read_csv(path)
    frame.columns = ["_row", *[str(c).strip().lower() for c in frame.columns[1:]]]
    return frame, None


def parse_assets(
    path: Path, *, organisation: str, restricted: bool, display_name: str | None = None
) -> ParsedFile:
    """Validate an asset file (CSV or GeoPackage) into a :class:`ParsedFile` for ``sites``.

    Every problem is a :class:`Reject` with its row number (CSV line; GeoPackage feature
    number) and reason; the caller refuses the load when there is any.
    """
    from etl.loading import OGL
    from etl.readers.common import (
        bad_bng,
        bad_lonlat,
        lonlat_points,
        normalise_postcode,
        require_columns,
        sites_frame,
        to_number,
    )

    frame, gpkg_geoms = _read_upload(path)
    if len(frame) > MAX_ASSET_ROWS:
        raise LoadError(path, f"{len(frame)} rows: at most {MAX_ASSET_ROWS} per upload")
    require_columns(path, frame, ["name", "kind"])
    rejects: list[Reject] = []
    rows = frame["_row"].astype(int)

    def col(name: str) -> pd.Series:
        if name in frame.columns:
            return frame[name].astype(str).str.strip()
        return pd.Series("", index=frame.index, dtype=object)

    name, kind = col("name"), col("kind").str.lower()
    for r in rows[name == ""]:
        rejects.append(Reject(int(r), "column 'name' is empty"))
    bad_kind = ~kind.str.match(_KIND)
    for r, v in zip(rows[bad_kind], kind[bad_kind], strict=True):
        rejects.append(
            Reject(int(r), f"column 'kind': {v!r} is not a kind (lower-case letters, _)")
        )
    numbers: dict[str, pd.Series] = {}
    for c in _NUMBERS:
        raw = col(c)
        values = to_number(raw).where(raw != "")
        bad = (raw != "") & (values.isna() | (values < 0))
        for r, v in zip(rows[bad], raw[bad], strict=True):
            rejects.append(Reject(int(r), f"column {c!r}: {v!r} is not a number >= 0"))
        numbers[c] = values.astype("float64")

    geoms = np.full(len(frame), None, dtype=object)
    located_by = np.full(len(frame), None, dtype=object)
    if gpkg_geoms is not None:
        for i, g in enumerate(gpkg_geoms):
            if g is None or g.is_empty:
                continue
            geoms[i] = g if g.geom_type == "Point" else g.point_on_surface()
            located_by[i] = "upload geometry"
    if {"lon", "lat"} <= set(frame.columns):
        lon, lat = to_number(col("lon")), to_number(col("lat"))
        given = (col("lon") != "") | (col("lat") != "")
        bad = given & (lon.isna() | lat.isna() | bad_lonlat(frame, lon, lat))
        for r in rows[bad]:
            rejects.append(Reject(int(r), "columns 'lon'/'lat': not a WGS84 position in the UK"))
        ok = (given & ~bad).to_numpy()
        if ok.any():
            geoms[ok] = lonlat_points(lon[ok], lat[ok])
            located_by[ok] = "upload lon/lat"
    if {"easting", "northing"} <= set(frame.columns):
        e, n = to_number(col("easting")), to_number(col("northing"))
        given = (col("easting") != "") | (col("northing") != "")
        bad = given & (e.isna() | n.isna() | bad_bng(e.fillna(-1), n.fillna(-1)))
        for r in rows[bad]:
            rejects.append(
                Reject(int(r), "columns 'easting'/'northing': not a position in Great Britain")
            )
        ok = (given & ~bad).to_numpy()
        if ok.any():
            geoms[ok] = shapely.points(np.column_stack([e[ok], n[ok]]))
            located_by[ok] = "upload easting/northing"
    if gpkg_geoms is None and "geometry" in frame.columns:
        wkt = col("geometry")
        for i in [int(v) for v in np.flatnonzero((wkt != "").to_numpy())]:
            try:
                g = shapely.from_wkt(wkt.iloc[i])
            except shapely.errors.GEOSException:
                rejects.append(Reject(int(rows.iloc[i]), "column 'geometry': not WKT"))
                continue
            p = g if g.geom_type == "Point" else g.point_on_surface()
            x, y = _TO_BNG.transform(p.x, p.y)
            geoms[i] = shapely.Point(x, y)
            located_by[i] = "upload geometry"
    postcode = col("postcode").map(normalise_postcode)
    # restricted per row
    flag = col("restricted").str.lower()
    bad_flag = ~flag.isin(_TRUE | _FALSE)
    for r, v in zip(rows[bad_flag], flag[bad_flag], strict=True):
        rejects.append(Reject(int(r), f"column 'restricted': {v!r} is not true/false"))
    row_restricted = np.where(flag.isin(_TRUE), True, np.where(flag == "", restricted, False))
    # The key a re-upload is matched on (ids, and so scenarios naming them, survive it):
    # the given asset_id, else the asset's name and postcode, never its row number (a row
    # added at the top would hand every later asset its neighbour's id).
    given_id = col("asset_id")
    by_name = "name:" + name.str.lower().str.split().str.join(" ")
    by_name = by_name + postcode.map(lambda p: f" {p}" if p else "")
    nth = by_name.groupby(by_name).cumcount()
    by_name = by_name.where(nth == 0, by_name + " #" + (nth + 1).astype(str))
    asset_id = given_id.where(given_id != "", by_name)
    dup = asset_id.duplicated(keep="first")
    for r, v in zip(rows[dup], asset_id[dup], strict=True):
        rejects.append(Reject(int(r), f"column 'asset_id': {v!r} is repeated"))
    owner = col("owner").where(col("owner") != "", organisation)
    owner_type = col("owner_type").str.lower().where(col("owner_type") != "", "partner")
    tenure = col("tenure").str.lower()
    known = {c for c in ASSET_COLUMNS if "," not in c} | {"lon", "lat", "easting", "northing"}
    extra_cols = [c for c in frame.columns if c != "_row" and c not in known]
    attributes = [
        {c: frame.at[i, c] for c in extra_cols if str(frame.at[i, c]).strip()} for i in frame.index
    ]
    source = f"assets:{organisation}"
    out = sites_frame(
        pd.DataFrame(
            {
                "_row": rows,
                "source": source,
                "source_id": asset_id,
                "name": name,
                "kind": kind,
                "owner": owner,
                "owner_type": owner_type,
                "tenure": tenure,
                "gia_m2": numbers["gia_m2"],
                "land_ha": numbers["land_ha"],
                "running_cost_gbp": numbers["running_cost_gbp"],
                "backlog_gbp": numbers["backlog_gbp"],
                "postcode": postcode,
                "located_by": located_by,
                "organisation": organisation,
                "restricted": row_restricted.astype(bool),
                "attributes": attributes,
                "geom": geoms,
            }
        )
    )
    return ParsedFile(
        dataset=source,
        path=path,
        licence=f"Uploaded by {organisation}; {OGL if not restricted else 'restricted'}",
        tables={"sites": out},
        rows_read=len(frame),
        rejects=sorted(rejects, key=lambda r: r.row or 0),
        vintage=None,
        notes=[f"uploaded as {display_name}"] if display_name else [],
    )


def upload_assets(
    engine: Engine,
    path: Path,
    *,
    organisation: str,
    restricted: bool,
    display_name: str | None = None,
) -> LoadSummary:
    """Validate, locate (coordinates, else postcode) and load an organisation's assets."""
    from etl.datasets import locate_sites

    parsed = parse_assets(
        path, organisation=organisation, restricted=restricted, display_name=display_name
    )
    if parsed.rejects:
        raise LoadError(display_name or path.name, parsed.rejects)
    with engine.connect() as conn:
        parsed = locate_sites(conn, parsed, Region(key=""), {}, national=False)
    return load_parsed(engine, parsed, region="")


# ------------------------------------------------------------------------------- co-location


@dataclass(frozen=True)
class ColocationParams:
    """One co-location run: ``method`` distance (``max_distance_m``) or network (``mode``,
    ``minutes``), the site kinds/owner types considered, weights and host tenures."""

    method: str = "distance"
    max_distance_m: float = 400.0
    mode: str = "walk"
    minutes: float = 10.0
    kinds: tuple[str, ...] = ()
    owner_types: tuple[str, ...] = ()
    weights: Mapping[str, float] = field(default_factory=dict)
    host_tenures: tuple[str, ...] = ("freehold",)
    min_owners: int = 2
    cost_per_m2: float | None = None
    estimate_costs: bool = True


def _tenure_type(value: Any) -> str | None:
    """The tenure type (``freehold``, ``leasehold``...) of a stored tenure text."""
    if not isinstance(value, str) or not value.strip():
        return None
    return value.split("/")[0].strip().lower() or None


def _colocation_sites(frame: pd.DataFrame) -> gpd.GeoDataFrame:
    f = frame.dropna(subset=["x", "y"]).copy()
    owner = f["owner"].where(f["owner"].notna() & (f["owner"].astype(str) != ""), f["name"])
    return gpd.GeoDataFrame(
        {
            "site_id": f["id"].astype(str).to_numpy(),
            "db_id": f["id"].to_numpy(),
            "source_id": f["source_id"].to_numpy(),
            "name": f["name"].to_numpy(),
            "owner": owner.astype(str).to_numpy(),
            "owner_type": f["owner_type"].to_numpy(),
            "kind": f["kind"].to_numpy(),
            # "Freehold / Leasehold Out" (council register: type / detail) → "freehold"
            "tenure": f["tenure"].map(_tenure_type).to_numpy(),
            "tenure_detail": f["tenure"].to_numpy(),
            "gia_m2": f["gia_m2"].to_numpy(),
            "running_cost_gbp": f["running_cost_gbp"].to_numpy(),
            "land_ha": f["land_ha"].to_numpy(),
        },
        geometry=gpd.points_from_xy(f["x"], f["y"]),
        crs=BNG,
    )


def _areas_population(conn: Connection) -> tuple[pd.DataFrame, list[str]]:
    from app.services.analysis import area_table

    areas = area_table(conn, vintage=AREA_VINTAGE)
    ages = [c for c in areas.columns if str(c)[:1].isdigit()]
    out = areas.rename(columns={"code": "area_code"})
    out["imd_decile"] = pd.to_numeric(out["imd_decile"], errors="coerce")
    return out, ages


def site_to_site_times(
    engine: Engine, sites: gpd.GeoDataFrame, *, mode: str, cutoff_s: float
) -> pd.DataFrame:
    """Site → site network times (``from_id, to_id, seconds``; only pairs within cut-off)."""
    from app.services.networks import get_network
    from app.services.traveltimes import snap
    from spatial.traveltime import travel_time_array

    network = get_network(engine, mode)
    frame = pd.DataFrame(
        {"site_id": sites["site_id"], "x": sites.geometry.x, "y": sites.geometry.y}
    )
    snapped = snap(network, frame, "site_id")
    times = travel_time_array(network, snapped, snapped, cutoff_s=cutoff_s)
    ii, jj = np.nonzero(np.isfinite(times))
    ids = frame["site_id"].to_numpy()
    return pd.DataFrame({"from_id": ids[ii], "to_id": ids[jj], "seconds": times[ii, jj]})


COLOCATION_CACHE_SIZE = 8
_COLOCATION_CACHE: dict[tuple[Any, ...], Any] = {}
_CACHE_LOCK = threading.Lock()


def run_colocation(
    engine: Engine,
    principal: Principal,
    params: ColocationParams,
    *,
    progress: Callable[[float, str], None] | None = None,
) -> tuple[ClusterResult, gpd.GeoDataFrame, dict[str, Any]]:
    """Find co-location clusters among the sites the caller may see.

    Returns the result, the sites used (GeoDataFrame, EPSG:27700) and metadata (method,
    cost rate, counts). The last :data:`COLOCATION_CACHE_SIZE` runs are kept in memory, keyed
    by database, newest data load, organisation and parameters (viewing the ranking and then
    downloading its report runs the finder once; any new load invalidates). Raises
    ``ValueError`` for impossible parameters and
    :class:`app.services.networks.NoNetworkError` when a network run has no network.
    """
    with engine.connect() as conn:
        newest = conn.execute(text("SELECT coalesce(max(id), 0) FROM data_loads")).scalar_one()
    key = (
        str(engine.url),
        int(newest),
        principal.organisation,
        repr(replace(params, weights=dict(sorted(params.weights.items())))),
    )
    with _CACHE_LOCK:
        hit = _COLOCATION_CACHE.get(key)
    if hit is not None:
        cached: tuple[ClusterResult, gpd.GeoDataFrame, dict[str, Any]] = hit
        return cached
    out = _run_colocation(engine, principal, params, progress=progress)
    with _CACHE_LOCK:
        _COLOCATION_CACHE[key] = out
        while len(_COLOCATION_CACHE) > COLOCATION_CACHE_SIZE:
            _COLOCATION_CACHE.pop(next(iter(_COLOCATION_CACHE)))
    return out


def _run_colocation(
    engine: Engine,
    principal: Principal,
    params: ColocationParams,
    *,
    progress: Callable[[float, str], None] | None = None,
) -> tuple[ClusterResult, gpd.GeoDataFrame, dict[str, Any]]:
    weights = ScoreWeights(**{k: float(v) for k, v in params.weights.items()})
    with engine.connect() as conn:
        frame = visible_sites(
            conn,
            principal,
            kinds=params.kinds or None,
            owner_types=params.owner_types or None,
            located_only=True,
        )
        areas, ages = _areas_population(conn)
        rate = params.cost_per_m2
        if rate is None and params.estimate_costs:
            rate = eric_cost_per_m2(conn)
        area_times = None
        if params.method == "network":
            from app.services.traveltimes import stored_times

            area_times = stored_times(conn, mode=params.mode, area_vintage=AREA_VINTAGE)
    sites = _colocation_sites(frame)
    if sites.empty:
        raise ValueError("no located sites match the filters")
    if progress:
        progress(20, f"{len(sites)} sites, {len(areas)} areas")
    kwargs: dict[str, Any] = {}
    if params.method == "network":
        cutoff = params.minutes * 60.0
        s2s = site_to_site_times(engine, sites, mode=params.mode, cutoff_s=max(cutoff, 1800.0))
        assert area_times is not None
        at = area_times[["from_id", "to_id", "seconds"]].astype({"to_id": str})
        kwargs = {
            "travel_times": pd.concat([s2s, at], ignore_index=True),
            "max_seconds": cutoff,
        }
    else:
        kwargs = {"max_distance_m": params.max_distance_m}
    if progress:
        progress(60, "clustering and scoring")
    result = find_colocation_clusters(
        sites,
        areas_population=areas if not areas.empty else None,
        age_band_columns=ages if not areas.empty else (),
        weights=weights,
        host_tenures=params.host_tenures,
        min_owners=params.min_owners,
        cost_per_m2=rate,
        **kwargs,
    )
    meta = {
        "method": params.method,
        "threshold": result.threshold,
        "threshold_unit": result.threshold_unit,
        "mode": params.mode if params.method == "network" else None,
        "population_bands": list(result.population_bands),
        "population_band_unit": "s" if params.method == "network" else "m",
        "cost_per_m2_gbp": rate,
        "sites_considered": len(sites),
        "areas": len(areas),
        "weights": weights.as_dict(),
        "score_formula": weights.formula(),
        "host_tenures": list(params.host_tenures),
        "notes": result.notes,
    }
    return result, sites, meta


def clusters_json(
    result: ClusterResult, sites: gpd.GeoDataFrame, *, limit: int | None = None
) -> list[dict[str, Any]]:
    """Ranked clusters with their members (WGS84 positions), JSON-safe."""
    top = result.clusters if limit is None else result.clusters.head(limit)
    if top.empty:
        return []
    lon, lat = _lonlat(top["x"], top["y"])
    pos = sites.set_index("site_id")
    mlon, mlat = _lonlat(pos.geometry.x, pos.geometry.y)
    where = dict(zip(pos.index, zip(mlon, mlat, strict=True), strict=True))
    src = dict(zip(sites["site_id"], sites["source_id"], strict=True))
    out = []
    for i, row in enumerate(top.to_dict(orient="records")):
        cid = row["cluster_id"]
        members = result.members[result.members["cluster_id"] == cid]
        mem = []
        for m in members.to_dict(orient="records"):
            p = where.get(m["site_id"], (None, None))
            mem.append(
                clean(
                    {
                        **{k: v for k, v in m.items() if k != "cluster_id"},
                        "site_id": int(m["site_id"]),
                        "source_id": src.get(m["site_id"]),
                        "lon": p[0],
                        "lat": p[1],
                    }
                )
            )
        rec = {str(k): v for k, v in row.items()}
        body: dict[str, Any] = clean({k: v for k, v in rec.items() if not k.startswith("c_")})
        body["site_ids"] = [int(s) for s in rec["site_ids"]]
        body["lon"], body["lat"] = float(lon[i]), float(lat[i])
        body["score_components"] = clean(
            {k.removeprefix("c_"): v for k, v in rec.items() if k.startswith("c_")}
        )
        body["imd_profile"] = {
            str(d): body.pop(f"imd_decile_{d}") for d in range(1, 11) if f"imd_decile_{d}" in body
        }
        body["members"] = mem
        out.append(body)
    return out


def data_sources(conn: Connection) -> list[tuple[str, str, str, str]]:
    """(dataset, file, vintage, licence) of every active data load, for reports."""
    rows = conn.execute(
        text(
            "SELECT dataset, file_name, coalesce(vintage, ''), coalesce(licence, '') "
            "FROM data_loads WHERE status = 'active' ORDER BY id"
        )
    ).all()
    return [(str(a), str(b), str(c), str(d)) for a, b, c, d in rows]


def area_polygons(conn: Connection, codes: Sequence[str] | None = None) -> gpd.GeoDataFrame:
    """Area polygons (``area_code``, geometry EPSG:27700) of the 2021 vintage."""
    q = "SELECT code AS area_code, ST_AsBinary(geom) AS wkb FROM areas WHERE vintage = :v"
    values: dict[str, Any] = {"v": AREA_VINTAGE}
    if codes is not None:
        q += " AND code = ANY(:codes)"
        values["codes"] = list(codes)
    rows = conn.execute(text(q), values).all()
    geoms = [shapely.from_wkb(bytes(r[1])) for r in rows]
    return gpd.GeoDataFrame({"area_code": [r[0] for r in rows]}, geometry=geoms, crs=BNG)


# ------------------------------------------------------------------------------- scenarios


class ScenarioInputError(ValueError):
    """A scenario that cannot be saved or evaluated; ``problems`` name each change."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


_SITE_REF_FIELDS: dict[type[Any], tuple[str, ...]] = {
    CloseSites: ("site_ids",),
    OpenSite: ("at_site_id",),
    MoveService: ("from_site_id", "to_site_id"),
    ChangeCapacity: ("site_id",),
}


def _prepare_changes(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Accept ``lon``/``lat`` (WGS84) on ``open_site`` changes: converted to BNG ``x``/``y``."""
    data = dict(raw)
    changes = []
    for ch in data.get("changes", []) or []:
        if isinstance(ch, Mapping) and ch.get("type") == "open_site" and "lon" in ch:
            c = dict(ch)
            lon, lat = c.pop("lon"), c.pop("lat", None)
            if isinstance(lon, int | float) and isinstance(lat, int | float):
                c["x"], c["y"] = (float(v) for v in _TO_BNG.transform(lon, lat))
            else:
                c["x"] = c["y"] = None
            changes.append(c)
        else:
            changes.append(ch)
    data["changes"] = changes
    return data


def resolve_references(scenario: Scenario, sites: pd.DataFrame) -> list[str]:
    """Rewrite site references (id or unique source_id) to ``sites.id`` text, in place.

    Returns the problems (unknown or ambiguous references), each naming the change.
    """
    ids = set(sites["id"].astype(str))
    by_source: dict[str, list[str]] = {}
    for sid, src in zip(sites["id"].astype(str), sites["source_id"].astype(str), strict=True):
        by_source.setdefault(src.upper(), []).append(sid)
    problems: list[str] = []

    def resolve(i: int, ch: Any, ref: Any) -> str:
        value = str(ref).strip()
        if value in ids:
            return value
        hits = by_source.get(value.upper(), [])
        if len(hits) == 1:
            return hits[0]
        label = f"change {i} ({ch.type})"
        if len(hits) > 1:
            problems.append(f"{label}: {value!r} names {len(hits)} sites; use a site id {hits}")
        else:
            problems.append(f"{label}: unknown site {value!r} (a site id or source id)")
        return value

    for i, ch in enumerate(scenario.changes, start=1):
        for name in _SITE_REF_FIELDS.get(type(ch), ()):
            value = getattr(ch, name)
            if value is None:
                continue
            if isinstance(value, list):
                setattr(ch, name, [resolve(i, ch, v) for v in value])
            else:
                setattr(ch, name, resolve(i, ch, value))
    return problems


def population_long(areas: pd.DataFrame) -> pd.DataFrame:
    """Area table (wide age bands) as the long ``area_code, age_band, count`` table."""
    ages = [c for c in areas.columns if str(c)[:1].isdigit()]
    if not ages:
        return pd.DataFrame(
            {"area_code": areas["code"], "age_band": "all", "count": areas["population"]}
        )
    long = areas.melt(id_vars=["code"], value_vars=ages, var_name="age_band", value_name="count")
    return long.rename(columns={"code": "area_code"})[["area_code", "age_band", "count"]]


def baseline_sites(sites: pd.DataFrame, kinds: Sequence[str] | None) -> pd.DataFrame:
    """Every visible site (``active`` = serves the measured service, i.e. kind in ``kinds``)."""
    out = pd.DataFrame(
        {
            "site_id": sites["id"].astype(str),
            "name": sites["name"],
            "kind": sites["kind"],
            "active": sites["kind"].isin(list(kinds)) if kinds else True,
            "gia_m2": sites["gia_m2"],
            "running_cost_gbp": sites["running_cost_gbp"],
            "land_ha": sites["land_ha"],
            "x": sites["x"],
            "y": sites["y"],
        }
    )
    return out


def check_scenario(engine: Engine, principal: Principal, definition: Mapping[str, Any]) -> Scenario:
    """Parse and validate a scenario definition against the sites and population table.

    Raises :class:`ScenarioInputError` listing every problem (each naming the change).
    """
    try:
        scenario = Scenario.from_dict(_prepare_changes(definition))
    except ScenarioError as exc:
        raise ScenarioInputError(exc.problems) from None
    with engine.connect() as conn:
        sites = visible_sites(conn, principal)
        from app.services.analysis import area_table

        areas = area_table(conn, vintage=AREA_VINTAGE)
    problems = resolve_references(scenario, sites)
    if problems:
        raise ScenarioInputError(problems)
    try:
        validate_scenario(
            scenario,
            baseline_sites(sites, None),
            population=population_long(areas) if not areas.empty else None,
        )
    except ScenarioError as exc:
        raise ScenarioInputError(exc.problems) from None
    return scenario


SCENARIO_COLUMNS = (
    "id, name, version, organisation, restricted, description, definition, created_by, created_at"
)
_INSERT_SCENARIO = (
    "INSERT INTO scenarios (name, version, organisation, restricted, description, definition, "
    "created_by) VALUES (:n, :v, :o, :r, :d, CAST(:def AS jsonb), :by) RETURNING id, name, "
    "version, organisation, restricted, description, definition, created_by, created_at"
)


def save_scenario(
    engine: Engine, principal: Principal, scenario: Scenario, *, restricted: bool
) -> dict[str, Any]:
    """Store ``scenario`` as the next version of its name for the caller's organisation."""
    with engine.begin() as conn:
        advisory_xact_lock(conn, f"scenario|{principal.organisation}|{scenario.name}")
        latest = conn.execute(
            text(
                "SELECT max(version) FROM scenarios WHERE name = :n "
                "AND organisation IS NOT DISTINCT FROM :o"
            ),
            {"n": scenario.name, "o": principal.organisation},
        ).scalar()
        scenario.version = int(latest or 0) + 1
        row = (
            conn.execute(
                text(_INSERT_SCENARIO),
                {
                    "n": scenario.name,
                    "v": scenario.version,
                    "o": principal.organisation,
                    "r": restricted and principal.organisation is not None,
                    "d": scenario.description,
                    "def": scenario.to_json(),
                    "by": principal.key_id,
                },
            )
            .mappings()
            .one()
        )
    return scenario_record(dict(row))


def scenario_record(row: Mapping[str, Any]) -> dict[str, Any]:
    """A ``scenarios`` row as the API shows it."""
    definition = row["definition"]
    if isinstance(definition, str):
        definition = json.loads(definition)
    out: dict[str, Any] = clean(
        {
            "id": int(row["id"]),
            "name": row["name"],
            "version": int(row["version"]),
            "organisation": row["organisation"],
            "restricted": bool(row["restricted"]),
            "description": row["description"],
            "created_at": row["created_at"],
            "definition": definition,
        }
    )
    return out


def _scenario_filter(principal: Principal) -> tuple[str, dict[str, Any]]:
    if principal.organisation is None:
        return "NOT restricted", {}
    return "(NOT restricted OR organisation = :org)", {"org": principal.organisation}


def list_scenarios(
    engine: Engine, principal: Principal, *, name: str | None = None, latest_only: bool = False
) -> list[dict[str, Any]]:
    """Scenarios the caller may see (newest first), optionally one name / latest versions."""
    vis, values = _scenario_filter(principal)
    q = f"SELECT {SCENARIO_COLUMNS} FROM scenarios WHERE {vis}"  # noqa: S608 (constants)
    if name is not None:
        q += " AND name = :name"
        values["name"] = name
    if latest_only:
        q += (
            " AND version = (SELECT max(version) FROM scenarios s2 WHERE s2.name = scenarios.name"
            " AND s2.organisation IS NOT DISTINCT FROM scenarios.organisation)"
        )
    q += " ORDER BY name, version DESC, id DESC"
    with engine.connect() as conn:
        rows = conn.execute(text(q), values).mappings().all()
    return [scenario_record(dict(r)) for r in rows]


def get_scenario(engine: Engine, principal: Principal, scenario_id: int) -> dict[str, Any] | None:
    """One scenario the caller may see (None otherwise: existence is not leaked)."""
    vis, values = _scenario_filter(principal)
    with engine.connect() as conn:
        row = (
            conn.execute(
                text(f"SELECT {SCENARIO_COLUMNS} FROM scenarios WHERE id = :id AND {vis}"),  # noqa: S608
                {**values, "id": scenario_id},
            )
            .mappings()
            .one_or_none()
        )
    return scenario_record(dict(row)) if row else None


@dataclass(frozen=True)
class EvaluationParams:
    """How to evaluate a scenario (see the ``scenario-evaluation`` process inputs)."""

    kinds: tuple[str, ...] = ("gp_practice",)
    modes: tuple[str, ...] = ("drive",)
    bands_min: tuple[int, ...] = (10, 20, 30)
    threshold_min: float = 20.0
    cost_per_m2: float | None = None
    receipt_per_ha: float | None = None


def _point_site_times(
    engine: Engine, mode: str, areas: pd.DataFrame, points: pd.DataFrame
) -> pd.DataFrame:
    """Area → new point site times on the network of ``mode`` (``from_id, to_id, seconds``)."""
    from app.services.networks import get_network
    from app.services.traveltimes import snap
    from spatial.traveltime import travel_time_array

    network = get_network(engine, mode)
    origins = snap(network, areas.assign(key=np.arange(len(areas))), "key")
    targets = snap(network, points, "site_id")
    times = travel_time_array(network, origins, targets)
    ii, jj = np.nonzero(np.isfinite(times))
    return pd.DataFrame(
        {
            "from_id": areas["code"].to_numpy()[ii],
            "to_id": points["site_id"].to_numpy()[jj],
            "mode": mode,
            "seconds": times[ii, jj],
        }
    )


def evaluate(
    engine: Engine,
    principal: Principal,
    definition: Mapping[str, Any],
    params: EvaluationParams,
    *,
    progress: Callable[[float, str], None] | None = None,
) -> tuple[ScenarioResult, dict[str, Any]]:
    """Evaluate a stored scenario definition on stored travel times (plus new point sites).

    Returns the result and metadata (cost rate used, sources of the figures).
    """
    from app.services.analysis import area_table
    from app.services.traveltimes import stored_times

    scenario = Scenario.from_dict(definition)
    with engine.connect() as conn:
        sites = visible_sites(conn, principal)
        areas = area_table(conn, vintage=AREA_VINTAGE)
        rate = params.cost_per_m2 if params.cost_per_m2 is not None else eric_cost_per_m2(conn)
        times = [stored_times(conn, mode=m, area_vintage=AREA_VINTAGE) for m in params.modes]
        sources = data_sources(conn)
    problems = resolve_references(scenario, sites)
    if problems:
        raise ScenarioInputError(problems)
    base = baseline_sites(sites, params.kinds)
    if not bool(base["active"].any()):
        raise ScenarioInputError([f"no visible sites of kind(s) {list(params.kinds)}"])
    visible_ids = set(base["site_id"])
    tt = pd.concat(times, ignore_index=True).astype({"to_id": str})
    tt = tt[tt["to_id"].isin(visible_ids)]
    new_points = [
        ch
        for ch in scenario.changes
        if isinstance(ch, OpenSite)
        and ch.at_site_id is None
        and ch.x is not None
        and ch.y is not None
        and str(ch.site_id) not in visible_ids
    ]
    if new_points:
        pts = pd.DataFrame(
            {
                "site_id": [str(c.site_id) for c in new_points],
                "x": [float(c.x) for c in new_points if c.x is not None],
                "y": [float(c.y) for c in new_points if c.y is not None],
            }
        )
        for m in params.modes:
            if progress:
                progress(30, f"computing {m} times to {len(pts)} new site(s) on the network")
            tt = pd.concat([tt, _point_site_times(engine, m, areas, pts)], ignore_index=True)
    missing = [m for m in params.modes if not (tt["mode"] == m).any()]
    if missing:
        raise ScenarioInputError([f"no stored travel times for mode(s) {missing}"])
    if progress:
        progress(50, "evaluating the scenario against the baseline")
    try:
        result = evaluate_scenario(
            base,
            scenario,
            travel_times=tt[["from_id", "to_id", "mode", "seconds"]],
            population=population_long(areas),
            imd=pd.Series(
                pd.to_numeric(areas["imd_decile"], errors="coerce").to_numpy(),
                index=areas["code"].astype(str),
            ).dropna(),
            bands_min=params.bands_min,
            threshold_min=params.threshold_min,
            cost_per_m2=rate,
            receipt_per_ha=params.receipt_per_ha,
        )
    except ScenarioError as exc:
        raise ScenarioInputError(exc.problems) from None
    meta = {
        "cost_per_m2_gbp": rate,
        "cost_per_m2_source": "input"
        if params.cost_per_m2 is not None
        else ("ERIC (floor-area weighted)" if rate is not None else None),
        "kinds": list(params.kinds),
        "area_vintage": AREA_VINTAGE,
        "sources": [list(s) for s in sources],
    }
    return result, meta


def result_to_json(result: ScenarioResult, meta: Mapping[str, Any]) -> dict[str, Any]:
    """``result.to_dict()`` plus the detail needed to rebuild it for reports and comparison."""
    out: dict[str, Any] = clean(result.to_dict())
    out["metadata"] = clean(dict(meta))
    out["detail"] = {
        "modes": {
            m: {
                "baseline": clean(asdict(r.baseline)),
                "scenario": clean(asdict(r.scenario)),
                "areas": records(r.areas),
                "loses": records(r.loses),
                "gains": records(r.gains),
            }
            for m, r in result.modes.items()
        },
        "estate": clean(
            {k: v for k, v in asdict(result.estate).items() if k != "sites"}
            | {"sites": records(result.estate.sites)}
        ),
        "sites": records(
            result.sites.drop(
                columns=[c for c in ("geometry", "attributes") if c in result.sites.columns]
            )
        ),
    }
    return out


def _summary_from(d: Mapping[str, Any]) -> AccessSummary:
    def num(v: Any) -> float:
        return float("nan") if v is None else float(v)

    return AccessSummary(
        population=num(d["population"]),
        within={int(k): num(v) for k, v in d["within"].items()},
        mean_s=num(d["mean_s"]),
        p95_s=num(d["p95_s"]),
        unreachable=num(d["unreachable"]),
        within_threshold=num(d["within_threshold"]),
    )


def result_from_json(data: Mapping[str, Any]) -> ScenarioResult:
    """Rebuild a :class:`ScenarioResult` from :func:`result_to_json` output."""
    detail = data["detail"]
    modes = {}
    for m, d in detail["modes"].items():
        areas = pd.DataFrame(d["areas"])
        for c in ("baseline_s", "scenario_s", "change_s"):
            if c in areas.columns:
                areas[c] = pd.to_numeric(areas[c], errors="coerce").astype("float64")
        areas["baseline_s"] = areas["baseline_s"].fillna(np.inf)
        areas["scenario_s"] = areas["scenario_s"].fillna(np.inf)
        cols = ["area_code", "age_band", "imd_decile", "persons"]
        modes[m] = ModeResult(
            mode=m,
            baseline=_summary_from(d["baseline"]),
            scenario=_summary_from(d["scenario"]),
            areas=areas,
            loses=pd.DataFrame(d["loses"], columns=cols),
            gains=pd.DataFrame(d["gains"], columns=cols),
        )
    e = dict(detail["estate"])
    estate_sites = pd.DataFrame(e.pop("sites"))
    estate = EstateChange(**e, sites=estate_sites)
    return ScenarioResult(
        scenario=Scenario.from_dict(data["scenario"]),
        threshold_min=float(data["threshold_min"]),
        bands_min=tuple(int(b) for b in data["bands_min"]),
        modes=modes,
        estate=estate,
        sites=pd.DataFrame(detail["sites"]),
        notes=list(data.get("notes", [])),
    )
