"""The co-location finder on the sites the caller may see, and its report.

:class:`ColocationParams` is THE definition of a co-location run's parameters: the query of
``GET /estate/colocation`` and ``/estate/colocation/report``, the inputs of the
``colocation`` process and the argument of :func:`run_colocation`. The clustering and
scoring are :func:`spatial.colocation.find_colocation_clusters`; this module reads its inputs
(sites through :mod:`store.estate`, areas, stored area → site times and site → site times on
the mode's :class:`~app.services.sources.TravelTimeSource`), caches recent runs and turns
results into JSON and reports.
"""

from __future__ import annotations

import dataclasses
import io
import tempfile
import threading
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from app.reports import cluster_layers, cluster_report, to_csv, to_geopackage
from app.services.estate_common import AREA_VINTAGE, clean, estate_areas, lonlat
from app.services.register import cost_rate
from app.services.sources import TravelTimeSource
from app.services.traveltimes import travel_time_source
from config.settings import Settings
from spatial.colocation import (
    SCORE_COMPONENTS,
    ClusterResult,
    ScoreWeights,
    find_colocation_clusters,
)
from spatial.crs import BNG
from spatial.kinds import KIND_PATTERN
from spatial.modes import RoadMode
from store import estate as estate_store
from store.access import Principal
from store.connection import Database
from store.traveltimes import stored_times

__all__ = [
    "COLOCATION_CACHE_SIZE",
    "ColocationParams",
    "clusters_json",
    "render_report",
    "run_colocation",
    "site_to_site_times",
]

Progress = Callable[[float, str], None]
#: A site kind, or an owner type (owner types follow the same identifier rule).
Kind = Annotated[str, Field(pattern=KIND_PATTERN)]
Tenure = Annotated[str, Field(min_length=1, max_length=60, pattern=r"^[^\x00]+$")]


def _weights_description() -> str:
    defaults = ScoreWeights().as_dict()
    parts = ", ".join(f"{k} ({defaults[k]:g})" for k in SCORE_COMPONENTS)
    return f"score weight by component, >= 0, missing ones keep their default: {parts}"


class ColocationParams(BaseModel):
    """One co-location run: ``method`` distance (``max_distance_m``) or network (``mode``,
    ``minutes``), the site kinds and owner types considered, score weights and host tenures.

    Validation errors carry ``parameter`` in their context when they concern one weight
    (``weights.<component>``) or one parameter of a cross-field rule.
    """

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    method: Literal["distance", "network"] | None = Field(
        None,
        description="distance (straight line) or network (travel time); "
        "default: network when a mode is given, else distance",
    )
    max_distance_m: float = Field(
        400.0, gt=0, le=5000, description="co-location distance, metres (method=distance)"
    )
    mode: RoadMode | None = Field(
        None, description="travel mode on the road network (method=network; default walk)"
    )
    minutes: float = Field(
        10.0, gt=0, le=60, description="co-location time, minutes (method=network)"
    )
    kinds: list[Kind] = Field(
        default_factory=list, max_length=40, description="site kinds considered (default all)"
    )
    owner_types: list[Kind] = Field(
        default_factory=list, max_length=40, description="owner types considered (default all)"
    )
    weights: dict[str, Annotated[float, Field(ge=0, le=1000)]] = Field(
        default_factory=dict, max_length=len(SCORE_COMPONENTS), description=_weights_description()
    )
    host_tenures: list[Tenure] = Field(
        default_factory=lambda: ["freehold"],
        min_length=1,
        max_length=20,
        description="tenures whose buildings can host a cluster",
    )
    min_owners: int = Field(2, ge=2, le=20, description="owners a cluster needs at least")
    cost_per_m2: float | None = Field(
        None,
        gt=0,
        le=10000,
        description="£/m²/year for buildings without a running cost "
        "(default: the ERIC floor-area-weighted rate when ERIC is loaded)",
    )

    @field_validator("weights")
    @classmethod
    def _known_weights(cls, value: dict[str, float]) -> dict[str, float]:
        for name in value:
            if name not in SCORE_COMPONENTS:
                raise PydanticCustomError(
                    "unknown_weight",
                    # pydantic fills plain {name} fields only (no !r conversions)
                    "unknown weight '{weight}'; the components are {known}",
                    {"weight": name, "known": ", ".join(SCORE_COMPONENTS)},
                )
        try:
            ScoreWeights(**value)
        except ValueError as exc:
            first = next(iter(value), SCORE_COMPONENTS[0])
            raise PydanticCustomError("bad_weights", str(exc), {"weight": first}) from None
        return value

    @field_validator("host_tenures")
    @classmethod
    def _lower_tenures(cls, value: list[str]) -> list[str]:
        tenures = [t.strip().lower() for t in value if t.strip()]
        if not tenures:
            raise ValueError("give at least one host tenure")
        return tenures

    @model_validator(mode="after")
    def _method_and_mode(self) -> ColocationParams:
        if self.method is None:
            self.method = "network" if self.mode is not None else "distance"
        if self.method == "distance" and self.mode is not None:
            raise PydanticCustomError(
                "mode_needs_network", "mode is for method=network", {"parameter": "mode"}
            )
        if self.method == "network" and self.mode is None:
            self.mode = "walk"
        return self

    @property
    def score_weights(self) -> ScoreWeights:
        """The weights, defaults filled in."""
        return ScoreWeights(**self.weights)


# ------------------------------------------------------------------------------- inputs


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


def _areas_population(db: Database) -> tuple[pd.DataFrame, list[str]]:
    areas = estate_areas(db)
    ages = [c for c in areas.columns if str(c)[:1].isdigit()]
    out = areas.rename(columns={"code": "area_code"})
    out["imd_decile"] = pd.to_numeric(out["imd_decile"], errors="coerce")
    return out, ages


def site_to_site_times(
    source: TravelTimeSource, sites: gpd.GeoDataFrame, *, cutoff_s: float
) -> pd.DataFrame:
    """Site → site times on ``source`` (``from_id, to_id, seconds``, ids as ``site_id``
    text; only the pairs the source computed within the ``cutoff_s`` seconds cut-off)."""
    frame = pd.DataFrame(
        {"site_id": sites["site_id"], "x": sites.geometry.x, "y": sites.geometry.y}
    )
    times = source.times(frame, frame, cutoff_s=cutoff_s).seconds
    ii, jj = np.nonzero(np.isfinite(times))
    ids = frame["site_id"].to_numpy()
    return pd.DataFrame({"from_id": ids[ii], "to_id": ids[jj], "seconds": times[ii, jj]})


# ------------------------------------------------------------------------------- runs

#: Runs kept in memory (see :func:`run_colocation`).
COLOCATION_CACHE_SIZE = 8
Run = tuple[ClusterResult, gpd.GeoDataFrame, dict[str, Any]]
_COLOCATION_CACHE: dict[tuple[Any, ...], Run] = {}
_CACHE_LOCK = threading.Lock()


def run_colocation(
    db: Database,
    settings: Settings,
    principal: Principal,
    params: ColocationParams,
    *,
    progress: Progress | None = None,
) -> Run:
    """Find co-location clusters among the sites ``principal`` may see.

    Returns the result, the sites used (GeoDataFrame, EPSG:27700) and metadata (method,
    cost rate, counts; for a network run the model of the times). A network run takes its
    site → site times from :func:`app.services.traveltimes.travel_time_source` (``settings``:
    snap limit and access leg, cache folder). The last :data:`COLOCATION_CACHE_SIZE` runs are
    kept in memory, keyed by database, newest data load, travel settings, organisation and
    parameters (viewing the ranking and then downloading its report runs the finder once; any
    new load invalidates). Raises ``ValueError`` when no site matches and
    :class:`app.services.sources.NoNetworkError` when a network run has no network.
    """
    with db.connection() as conn:
        newest = estate_store.latest_load_id(conn)
    key = (
        db.settings.url,
        newest,
        settings.travel.model_dump_json(),
        principal.organisation,
        params.model_dump_json(),
    )
    with _CACHE_LOCK:
        hit = _COLOCATION_CACHE.get(key)
    if hit is not None:
        return hit
    out = _run_colocation(db, settings, principal, params, progress=progress)
    with _CACHE_LOCK:
        _COLOCATION_CACHE[key] = out
        while len(_COLOCATION_CACHE) > COLOCATION_CACHE_SIZE:
            _COLOCATION_CACHE.pop(next(iter(_COLOCATION_CACHE)))
    return out


def _run_colocation(
    db: Database,
    settings: Settings,
    principal: Principal,
    params: ColocationParams,
    *,
    progress: Progress | None = None,
) -> Run:
    weights = params.score_weights
    with db.connection() as conn:
        frame = estate_store.visible_sites(
            conn,
            principal,
            kinds=params.kinds or None,
            owner_types=params.owner_types or None,
            located_only=True,
        )
    areas, ages = _areas_population(db)
    rate = params.cost_per_m2 if params.cost_per_m2 is not None else cost_rate(db, principal)
    sites = _colocation_sites(frame)
    if sites.empty:
        raise ValueError("no located sites match the filters")
    if progress:
        progress(20, f"{len(sites)} sites, {len(areas)} areas")
    kwargs: dict[str, Any]
    times_model: dict[str, Any] | None = None
    if params.method == "network":
        assert params.mode is not None  # set by the model's validator
        cutoff = params.minutes * 60.0
        source = travel_time_source(db, settings, params.mode)
        times_model = source.metadata
        s2s = site_to_site_times(source, sites, cutoff_s=max(cutoff, 1800.0))
        with db.connection() as conn:
            area_times = stored_times(conn, principal, mode=params.mode, area_vintage=AREA_VINTAGE)
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
    if times_model is not None:
        meta["travel_times"] = times_model
    return result, sites, meta


def clusters_json(
    result: ClusterResult, sites: gpd.GeoDataFrame, *, limit: int | None = None
) -> list[dict[str, Any]]:
    """Ranked clusters with their members (WGS84 positions), JSON-safe."""
    top = result.clusters if limit is None else result.clusters.head(limit)
    if top.empty:
        return []
    lon, lat = lonlat(top["x"], top["y"])
    pos = sites.set_index("site_id")
    mlon, mlat = lonlat(pos.geometry.x, pos.geometry.y)
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


# ------------------------------------------------------------------------------- reports

ReportFormat = Literal["html", "pdf", "gpkg", "csv"]


def _top(result: ClusterResult, top: int) -> ClusterResult:
    keep = set(result.clusters.head(top)["cluster_id"])
    return dataclasses.replace(
        result,
        clusters=result.clusters[result.clusters["cluster_id"].isin(keep)],
        members=result.members[result.members["cluster_id"].isin(keep)],
    )


def render_report(
    db: Database,
    principal: Principal,
    result: ClusterResult,
    sites: gpd.GeoDataFrame,
    fmt: ReportFormat,
    top: int,
) -> tuple[bytes, str, str]:
    """The top ``top`` clusters as a report (html, pdf) or export (gpkg, zip of csv).

    Returns ``(content, media type, file name)``. The report's data sources are the loads
    ``principal`` may see (:func:`store.estate.data_sources`).
    """
    with db.connection() as conn:
        sources = estate_store.data_sources(conn, principal)
        areas = estate_store.area_polygons(conn, vintage=AREA_VINTAGE)
    if fmt in ("html", "pdf"):
        html, pdf = cluster_report(
            result,
            sites=sites,
            areas=areas if not areas.empty else None,
            sources=sources,
            top_n=top,
            pdf_engine="auto" if fmt == "pdf" else "matplotlib",
        )
        if fmt == "html":
            return html.encode("utf-8"), "text/html", "colocation.html"
        return pdf, "application/pdf", "colocation.pdf"
    layers = cluster_layers(_top(result, top), sites.drop(columns=["db_id"]))
    with tempfile.TemporaryDirectory(prefix="locus-coloc-") as tmp:
        if fmt == "gpkg":
            path = to_geopackage(Path(tmp) / "colocation.gpkg", layers)
            return path.read_bytes(), "application/geopackage+sqlite3", "colocation.gpkg"
        files = to_csv(Path(tmp) / "csv", dict(layers))
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for p in files:
                zf.write(p, arcname=p.name)
        return buf.getvalue(), "application/zip", "colocation-csv.zip"
