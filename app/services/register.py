"""The estate register and asset uploads.

- :func:`estate_register`: the sites of every owner the caller may see, with the figures
  :func:`spatial.estate.derive_estate_metrics` derives (cost and backlog per m², pre-1948 share,
  utilisation flags) and a summary.
- :func:`parse_assets` / :func:`upload_assets`: an organisation's own asset file (CSV or
  GeoPackage) validated row by row and loaded like any other file: dataset
  ``assets:<organisation>`` recorded in ``data_loads``; a new upload by the same organisation
  replaces its previous one atomically (the same file twice changes nothing). Sites get source
  ``assets:<organisation>``, ``organisation`` = the uploader's and ``restricted`` from the
  request (or a per-row ``restricted`` column).
- :func:`cost_rate`: the floor-area-weighted ERIC running cost per m², applied to buildings
  without a running cost (co-location, scenarios).

Reads go through :mod:`store.estate` (the visibility rule applied there); the write is the
load pipeline's (:func:`etl.loading.load_parsed`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyogrio
import shapely

from app.services.estate_common import clean, lonlat, records
from etl.datasets import locate_sites
from etl.loading import (
    OGL,
    LoadError,
    LoadSummary,
    ParsedFile,
    Region,
    Reject,
    load_parsed,
)
from etl.readers.common import (
    bad_bng,
    bad_lonlat,
    lonlat_points,
    normalise_postcode,
    number_problem,
    read_csv,
    require_columns,
    sites_frame,
    to_number,
)
from etl.readers.eric import RUNNING_COST_DEFINITION
from spatial import estate as est
from spatial.crs import BNG, wgs84_to_bng
from spatial.kinds import check_kind, is_kind
from store import estate as estate_store
from store.access import Principal
from store.connection import Database

__all__ = [
    "ASSET_COLUMNS",
    "MAX_ASSET_ROWS",
    "REGISTER_FIELDS",
    "cost_rate",
    "estate_register",
    "parse_assets",
    "upload_assets",
]

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

#: How each derived figure is computed (returned with the register).
DEFINITIONS = {
    "running_cost_gbp": RUNNING_COST_DEFINITION,
    "cost_per_m2_gbp": "running cost (£/year) / gross internal floor area",
    "backlog_per_m2_gbp": "backlog (high+significant+moderate+low risk, £) / GIA",
    "pre_1948_share": "share of the floor area built before 1948 (ERIC age profile) / 100",
    "flags": "empty > 5 %, under-used > 10 %, not functionally suitable > 20 % of "
    "floor area; land not delivering services > 0 ha (ERIC)",
}


def estate_register(
    db: Database,
    principal: Principal,
    *,
    kinds: Sequence[str] | None = None,
    owner_types: Sequence[str] | None = None,
    flagged_only: bool = False,
    limit: int = 100,
    offset: int = 0,
    thresholds: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """The estate of every owner ``principal`` may see, with derived per-site figures.

    Returns ``numberMatched``, ``numberReturned``, the page of ``sites`` (the fields of
    :data:`REGISTER_FIELDS`, positions in WGS84), a ``summary`` over every matched site and
    the ``definitions`` of the figures.
    """
    with db.connection() as conn:
        sites = estate_store.visible_sites(conn, principal, kinds=kinds, owner_types=owner_types)
    derived = est.derive_estate_metrics(sites, **dict(thresholds or {}))
    if flagged_only:
        derived = derived[derived["utilisation_flags"] != ""]
    lon, lat = lonlat(derived["x"], derived["y"])
    derived = derived.assign(lon=lon, lat=lat)
    page = derived.iloc[offset : offset + limit]
    summary: dict[str, Any] = {
        "sites": len(derived),
        "by_owner_type": {str(k): int(v) for k, v in derived["owner_type"].value_counts().items()},
        "by_kind": {str(k): int(v) for k, v in derived["kind"].value_counts().items()},
        "gia_m2": float(derived["gia_m2"].sum()),
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
        "definitions": DEFINITIONS,
    }


def cost_rate(db: Database, principal: Principal) -> float | None:
    """Floor-area-weighted ERIC running cost (£/m²/year) over the loaded ERIC sites the
    caller may see; None when none has both a floor area and a running cost."""
    with db.connection() as conn:
        frame = estate_store.cost_rate_sites(conn, principal, source="eric")
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
_NUMBERS = ("gia_m2", "land_ha", "running_cost_gbp", "backlog_gbp")
_TRUE = {"true", "t", "yes", "y", "1"}
_FALSE = {"false", "f", "no", "n", "0", ""}
#: Rows one upload may hold.
MAX_ASSET_ROWS = 20_000


def _read_upload(path: Path) -> tuple[pd.DataFrame, npt.NDArray[np.object_] | None]:
    """Rows as strings with ``_row`` (file line / feature number), plus GPKG geometries."""
    if path.suffix.lower() in (".gpkg", ".geopackage"):
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
    frame, gpkg_geoms = _read_upload(path)
    if not len(frame):
        raise LoadError(path, "the file has no asset rows")
    if len(frame) > MAX_ASSET_ROWS:
        raise LoadError(path, f"{len(frame)} rows: at most {MAX_ASSET_ROWS} per upload")
    require_columns(path, frame, ["name", "kind"])
    rejects: list[Reject] = []
    rows = frame["_row"].astype(int)

    def col(name: str) -> pd.Series:
        if name in frame.columns:
            return frame[name].astype(str).str.strip()
        return pd.Series("", index=frame.index, dtype=object)

    # A name keeps a leading tab or line break (only leading spaces and trailing whitespace
    # are trimmed): exports escape a name a spreadsheet would run (app.reports.
    # escape_formula), whereas trimming "\t=cmd" would store the bare formula "=cmd".
    name = frame["name"].astype(str).str.rstrip().str.lstrip(" ")
    kind = col("kind").str.lower()
    for r in rows[name.str.strip() == ""]:
        rejects.append(Reject(int(r), "column 'name' is empty"))
    bad_kind = ~kind.map(is_kind).astype(bool)
    for r, v in zip(rows[bad_kind], kind[bad_kind], strict=True):
        try:
            check_kind(v, parameter="column 'kind':")
        except ValueError as exc:
            rejects.append(Reject(int(r), str(exc)))
    numbers: dict[str, pd.Series] = {}
    for c in _NUMBERS:
        raw = col(c)
        values = to_number(raw).where(raw != "")
        bad = (raw != "") & (values.isna() | (values < 0))
        for r, v, x in zip(rows[bad], raw[bad], values[bad], strict=True):
            problem = number_problem(v) if pd.isna(x) else f"{v!r} is negative"
            rejects.append(Reject(int(r), f"column {c!r}: {problem} (expected a number >= 0)"))
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
            x, y = wgs84_to_bng(p.x, p.y)
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
    db: Database,
    path: Path,
    *,
    organisation: str,
    restricted: bool,
    display_name: str | None = None,
) -> LoadSummary:
    """Validate, locate (coordinates, else postcode) and load an organisation's assets.

    ``db`` is the database the load runs on; a load is batch work, so give it the ``batch``
    :func:`~store.connection.database` (no per-statement limit while it waits for another
    load of the same organisation). Raises :class:`etl.loading.LoadError` listing every
    rejected row (nothing is loaded).
    """
    parsed = parse_assets(
        path, organisation=organisation, restricted=restricted, display_name=display_name
    )
    if parsed.rejects:
        raise LoadError(display_name or path.name, parsed.rejects)
    parsed = locate_sites(db, parsed, Region(key=""), {}, national=False)
    return load_parsed(db, parsed, region="")
