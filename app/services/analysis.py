"""The questions estates teams ask, answered from the stored data and the networks.

Each function takes an engine and plain parameters (already validated by the router), reads
what it needs from PostGIS, delegates the computation to ``spatial`` and returns plain dicts
ready for JSON. Population in a catchment is counted **by representative point**: an area is
inside a band when the travel time between its representative point and the site is within the
band, and its whole population (Census 2021 age bands) counts — so band totals reconcile
exactly with the census totals of the areas.

Catchment bands have one implementation, :func:`catchment_bands`, on a
:class:`CatchmentSource` (the mode's network or GTFS timetable, loaded once): the
``/analysis/catchment/{site_id}`` endpoint and the ``catchments`` process (which stores the
bands) both call it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyproj
from sqlalchemy import Connection, Engine, text

from app.services.networks import get_network
from app.services.traveltimes import site_points, snap
from config.settings import get_settings
from spatial.network import Network
from spatial.traveltime import travel_time_array

_TO_BNG = pyproj.Transformer.from_crs(4326, 27700, always_xy=True)
_TO_WGS = pyproj.Transformer.from_crs(27700, 4326, always_xy=True)
POPULATION_METHOD = (
    "representative point: an area counts wholly in a band when the travel time between its "
    "representative point and the site is within the band (totals reconcile with the census)"
)


class AnalysisInputError(ValueError):
    """A parameter names something that does not exist (site, postcode, kind)."""

    def __init__(self, parameter: str, detail: str) -> None:
        super().__init__(detail)
        self.parameter = parameter


@dataclass(frozen=True)
class Origin:
    """A point in EPSG:27700 with how it was given (lon/lat or postcode)."""

    x: float
    y: float
    postcode: str | None = None

    def lonlat(self) -> tuple[float, float]:
        lon, lat = _TO_WGS.transform(self.x, self.y)
        return round(float(lon), 6), round(float(lat), 6)


def origin_from_lonlat(lon: float, lat: float) -> Origin:
    """An :class:`Origin` from WGS84 longitude/latitude."""
    x, y = _TO_BNG.transform(lon, lat)
    return Origin(float(x), float(y))


def normalise_postcode(postcode: str) -> str:
    """Upper case with one space before the inward code (``le156aa`` → ``LE15 6AA``)."""
    compact = "".join(postcode.split()).upper()
    return f"{compact[:-3]} {compact[-3:]}" if len(compact) >= 5 else compact


def postcode_lookup(conn: Connection, postcode: str) -> dict[str, Any]:
    """The stored point of a postcode (newest vintage first).

    Raises
    ------
    AnalysisInputError
        When the postcode is not in any loaded postcode file.
    """
    pc = normalise_postcode(postcode)
    row = conn.execute(
        text(
            "SELECT postcode, source, vintage, lsoa21, ST_X(geom) AS x, ST_Y(geom) AS y "
            "FROM postcodes WHERE replace(postcode, ' ', '') = :pc "
            "ORDER BY vintage DESC LIMIT 1"
        ),
        {"pc": pc.replace(" ", "")},
    ).first()
    if row is None:
        raise AnalysisInputError("postcode", f"postcode {pc!r} is not in the loaded postcode data")
    origin = Origin(float(row.x), float(row.y), row.postcode)
    lon, lat = origin.lonlat()
    return {
        "postcode": row.postcode,
        "lon": lon,
        "lat": lat,
        "easting": round(origin.x, 1),
        "northing": round(origin.y, 1),
        "lsoa21": row.lsoa21,
        "source": row.source,
        "vintage": row.vintage,
    }


def origin_from_postcode(conn: Connection, postcode: str) -> Origin:
    """An :class:`Origin` at a stored postcode's point."""
    found = postcode_lookup(conn, postcode)
    return Origin(float(found["easting"]), float(found["northing"]), found["postcode"])


def age_label(lower: int, upper: int | None) -> str:
    """``0-15`` style label for an age band (``65+`` when open-ended)."""
    return f"{lower}+" if upper is None else f"{lower}-{upper}"


def area_table(conn: Connection, *, vintage: int = 2021) -> pd.DataFrame:
    """Areas of a vintage with population by age band, 65+, IMD decile and representative point.

    Columns: ``code, name, x, y, population, pop_65_plus, imd_decile`` and one column per age
    band label (e.g. ``0-15`` … ``65+``), from the latest population source of each area.
    """
    areas = pd.read_sql(
        text(
            "SELECT code, name, ST_X(rep_point) AS x, ST_Y(rep_point) AS y, population, "
            "pop_65_plus, imd_decile FROM areas_features WHERE vintage = :v AND level = 'lsoa' "
            "ORDER BY code"
        ),
        conn,
        params={"v": vintage},
    )
    bands = pd.read_sql(
        text(
            "WITH latest AS (SELECT p.area_code, p.age_lower, p.age_upper, p.count, "
            "rank() OVER (PARTITION BY p.area_code ORDER BY p.reference_date DESC, p.source, "
            "p.sex <> 'all') AS rk FROM population p JOIN areas a ON a.code = p.area_code "
            "AND a.vintage = :v) "
            "SELECT area_code, age_lower, age_upper, sum(count) AS n FROM latest WHERE rk = 1 "
            "GROUP BY 1, 2, 3"
        ),
        conn,
        params={"v": vintage},
    )
    if not bands.empty:
        bands["band"] = [
            age_label(int(lo), None if pd.isna(up) else int(up))
            for lo, up in zip(bands["age_lower"], bands["age_upper"], strict=True)
        ]
        order = bands.drop_duplicates("band").sort_values("age_lower")["band"].tolist()
        wide = bands.pivot_table(index="area_code", columns="band", values="n", aggfunc="sum")
        wide = wide.reindex(columns=order).fillna(0.0)
        areas = areas.merge(wide, left_on="code", right_index=True, how="left")
    areas["population"] = areas["population"].fillna(0.0)
    return areas


def _records(frame: pd.DataFrame) -> list[Any]:
    """Rows as attribute-access records (``r.code``), typed loosely for mypy."""
    return list(frame.itertuples(index=False))


def _age_columns(areas: pd.DataFrame) -> list[str]:
    return [c for c in areas.columns if c[:1].isdigit()]


def population_breakdown(areas: pd.DataFrame, mask: np.ndarray[Any, Any]) -> dict[str, Any]:
    """Population of the masked areas, by age band and by IMD decile."""
    chosen = areas.loc[mask]
    by_age = {c: round(float(chosen[c].sum()), 1) for c in _age_columns(areas)}
    deciles = chosen["imd_decile"].fillna(0).astype(int)
    by_imd = {
        str(d): round(float(chosen.loc[deciles == d, "population"].sum()), 1) for d in range(1, 11)
    }
    return {
        "population": round(float(chosen["population"].sum()), 1),
        "areas": len(chosen),
        "by_age": by_age,
        # Deciles 1 (most deprived) to 10, always all ten; people in areas with no IMD 2019
        # decile (not even a best-fit LSOA 2011 one, migration 0009) are counted apart.
        "by_imd_decile": by_imd,
        "imd_unknown": round(float(chosen.loc[deciles == 0, "population"].sum()), 1),
    }


def network_metadata(mode: str) -> dict[str, Any]:
    """Speeds and snapping rules stated with every result."""
    settings = get_settings()
    return {
        "mode": mode,
        "walk_speed_kmh": settings.travel.walk_speed_kmh,
        "cycle_speed_kmh": settings.travel.cycle_speed_kmh,
        "drive_speeds": "UK defaults by road class; OSM maxspeed where tagged",
        "access_leg": f"straight line to the nearest edge at {settings.travel.walk_speed_kmh} km/h",
        "max_snap_distance_m": settings.travel.max_snap_distance_m,
    }


def _mode_metadata(engine: Engine, mode: str) -> dict[str, Any]:
    """Metadata of stored times: speeds, or for transit the window/percentile/walk model."""
    if mode == "transit":
        from app.services.transit import stored_metadata

        return stored_metadata(engine)  # raises NoFeedError (503) when no feed is loaded
    return network_metadata(mode)


def nearest_sites(
    engine: Engine, origin: Origin, *, kind: str, mode: str, n: int
) -> dict[str, Any]:
    """The ``n`` sites of ``kind`` with the least travel time from ``origin`` by ``mode``."""
    if mode == "transit":
        from app.services import transit_analysis

        return transit_analysis.nearest_sites(engine, origin, kind=kind, n=n)
    network = get_network(engine, mode)
    with engine.connect() as conn:
        sites = site_points(conn, kinds=[kind])
    if sites.empty:
        raise AnalysisInputError("kind", f"no located active sites of kind {kind!r}")
    point = pd.DataFrame({"key": [0], "x": [origin.x], "y": [origin.y]})
    snapped = snap(network, point, "key")
    lon, lat = origin.lonlat()
    result: dict[str, Any] = {
        "origin": {
            "lon": lon,
            "lat": lat,
            "postcode": origin.postcode,
            "snap_distance_m": round(float(snapped.snap_distance_m[0]), 1),
            "reachable": bool(snapped.reachable[0]),
        },
        "mode": mode,
        "kind": kind,
        "results": [],
        "metadata": network_metadata(mode),
    }
    if not snapped.reachable[0]:
        result["detail"] = (
            f"the point is {snapped.snap_distance_m[0]:.0f} m from the nearest {mode} edge, "
            f"beyond the {get_settings().travel.max_snap_distance_m:.0f} m limit: unreachable"
        )
        return result
    targets = snap(network, sites, "id")
    times = travel_time_array(network, snapped, targets)[0]
    result["results"] = nearest_results(sites, times, n)
    return result


def nearest_results(sites: pd.DataFrame, times: np.ndarray, n: int) -> list[dict[str, Any]]:
    """The ``n`` sites with the least finite time (seconds), nearest first, as result rows.

    ``times`` is parallel to ``sites`` (``id, source_id, name, kind``); unreachable (infinite or
    NaN) sites are never listed; ties keep the order of ``sites``.
    """
    rows: list[dict[str, Any]] = []
    order = np.argsort(np.nan_to_num(times, nan=np.inf), kind="stable")
    for j in order[:n]:
        if not np.isfinite(times[j]):
            break
        rows.append(
            {
                "site_id": int(sites["id"].iloc[j]),
                "source_id": sites["source_id"].iloc[j],
                "name": sites["name"].iloc[j],
                "kind": sites["kind"].iloc[j],
                "seconds": round(float(times[j]), 1),
                "minutes": round(float(times[j]) / 60.0, 1),
            }
        )
    return rows


def site_summary(site: Any) -> dict[str, Any]:
    """A catchment result's ``site`` member: ids, name, kind and WGS84 ``lon``/``lat``."""
    lon, lat = Origin(site.x, site.y).lonlat()
    return {
        "site_id": site.id,
        "source_id": site.source_id,
        "name": site.name,
        "kind": site.kind,
        "lon": lon,
        "lat": lat,
    }


def _site_row(conn: Connection, site_id: int) -> Any:
    row = conn.execute(
        text(
            "SELECT id, source_id, name, kind, owner, ST_X(geom) AS x, ST_Y(geom) AS y "
            "FROM sites WHERE id = :id AND NOT restricted"
        ),
        {"id": site_id},
    ).first()
    if row is None or row.x is None:
        raise AnalysisInputError("site_id", f"no located open site with id {site_id}")
    return row


def area_times_to_site(engine: Engine, site_id: int, mode: str) -> tuple[Any, pd.DataFrame]:
    """The site row and its area table with ``seconds`` from each area (NaN: unreachable)."""
    with engine.connect() as conn:
        site = _site_row(conn, site_id)
        areas = area_table(conn)
        times = pd.read_sql(
            text(
                "SELECT area_code AS code, seconds FROM travel_times WHERE site_id = :s "
                "AND mode = :m AND area_vintage = 2021"
            ),
            conn,
            params={"s": site_id, "m": mode},
        )
    return site, areas.merge(times, on="code", how="left")


@dataclass(frozen=True)
class CatchmentSource:
    """What the catchments of one mode are computed on, loaded once and reused across sites.

    Road modes (drive, walk, cycle) hold the network of the active network load; ``transit``
    holds the active GTFS feed's timetable and the isochrone options. ``load_id`` is the
    ``data_loads`` id of that network or feed; ``metadata`` is what every result states.
    """

    engine: Engine
    mode: str
    load_id: int
    metadata: dict[str, Any]
    network: Network | None = None
    timetable: Any = None
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CatchmentBand:
    """One band of a site's catchment.

    ``geometry`` is the isochrone (shapely Polygon or MultiPolygon, EPSG:27700; empty when
    nothing is reached), ``population`` the :func:`population_breakdown` of the areas whose
    representative point is within ``band_min`` minutes of the site, ``extra`` mode-specific
    properties (transit: ``stops_reached``).
    """

    band_min: int
    geometry: Any
    population: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def multipolygon(self) -> Any:
        """The polygon as a shapely MultiPolygon (EPSG:27700), as stored in ``catchments``."""
        import shapely

        geom = self.geometry
        if geom is None or geom.is_empty:
            return shapely.MultiPolygon()
        if isinstance(geom, shapely.MultiPolygon):
            return geom
        if isinstance(geom, shapely.Polygon):
            return shapely.MultiPolygon([geom])
        raise TypeError(f"band {self.band_min}: expected a polygon, got {geom.geom_type}")


@dataclass(frozen=True)
class SiteCatchment:
    """The catchment bands of one site by one mode, widest band first.

    ``reachable`` is False (with the reason in ``detail``) when the site is beyond the snap
    limit of the mode's network: its bands are then empty.
    """

    site_id: int
    mode: str
    load_id: int
    bands: list[CatchmentBand]
    metadata: dict[str, Any]
    reachable: bool = True
    detail: str | None = None


def catchment_source(engine: Engine, mode: str) -> CatchmentSource:
    """Load what catchments of ``mode`` are computed on (once; reuse it across sites).

    Raises
    ------
    NoNetworkError
        When no network of that mode (``NoFeedError``: no GTFS feed) is loaded.
    """
    if mode == "transit":
        from app.services import transit_analysis

        return transit_analysis.catchment_source(engine)
    network = get_network(engine, mode)
    return CatchmentSource(
        engine=engine,
        mode=mode,
        load_id=int(network.metadata["network_load_id"]),
        metadata={
            **network_metadata(mode),
            "population_method": POPULATION_METHOD,
            "direction": "from each area's representative point to the site",
            "isochrone_method": "reachable edges cut at the band time, buffered and unioned",
        },
        network=network,
    )


def catchment_bands(
    source: CatchmentSource,
    site: Any,
    areas: pd.DataFrame,
    seconds: np.ndarray[Any, Any],
    *,
    bands_min: Sequence[int],
) -> SiteCatchment:
    """Catchment bands of one site: the isochrone polygon and the population of each band.

    Parameters
    ----------
    source : CatchmentSource
        The mode's network or feed, from :func:`catchment_source`.
    site : row
        The site: ``id``, ``x``, ``y`` (EPSG:27700 metres).
    areas : pandas.DataFrame
        The :func:`area_table` of the areas counted.
    seconds : numpy.ndarray
        Travel time in seconds from each area (row of ``areas``) to the site; NaN or inf
        where unreachable.
    bands_min : sequence of int
        Band limits in minutes.

    Returns
    -------
    SiteCatchment
        One :class:`CatchmentBand` per distinct band, widest first.
    """
    if source.mode == "transit":
        from app.services import transit_analysis

        polygons, metadata = transit_analysis.band_polygons(source, site, bands_min)
        reachable, detail = True, None
    else:
        polygons, reachable, detail = _road_band_polygons(source, site, bands_min)
        metadata = source.metadata
    within = np.nan_to_num(np.asarray(seconds, dtype=float), nan=np.inf)
    bands = [
        CatchmentBand(band, geom, population_breakdown(areas, within <= band * 60.0), extra)
        for band, geom, extra in sorted(polygons, key=lambda p: -p[0])
    ]
    return SiteCatchment(
        site_id=int(site.id),
        mode=source.mode,
        load_id=source.load_id,
        bands=bands,
        metadata=metadata,
        reachable=reachable,
        detail=detail,
    )


def _road_band_polygons(
    source: CatchmentSource, site: Any, bands_min: Sequence[int]
) -> tuple[list[tuple[int, Any, dict[str, Any]]], bool, str | None]:
    """Isochrones of a site on a road network: ``(band, polygon, {})``, reachable, reason."""
    from spatial.catchment import isochrones

    network = source.network
    assert network is not None
    origin = snap(network, pd.DataFrame({"key": [site.id], "x": [site.x], "y": [site.y]}), "key")
    polygons = isochrones(network, origin, bands_min=list(bands_min))
    rows: list[tuple[int, Any, dict[str, Any]]] = [
        (int(band), geom, {})
        for band, geom in zip(polygons["band_min"], polygons.geometry, strict=True)
    ]
    if bool(origin.reachable[0]):
        return rows, True, None
    detail = (
        f"the site is {origin.snap_distance_m[0]:.0f} m from the nearest {source.mode} edge, "
        f"beyond the {get_settings().travel.max_snap_distance_m:.0f} m snap limit"
    )
    return rows, False, detail


def area_seconds_on_network(
    source: CatchmentSource, areas: pd.DataFrame, sites: pd.DataFrame
) -> np.ndarray[Any, Any]:
    """Travel times computed now (not stored): seconds, areas × sites (inf: unreachable).

    From each area's representative point (``areas``: ``x, y``) to each site (``sites``:
    ``id, x, y``), on the source's network, or for transit on its timetable with the
    configured window and percentile, as the stored ``travel_times`` are computed.
    """
    if source.mode == "transit":
        from app.services import transit

        origins = pd.DataFrame({"id": np.arange(len(areas)), "x": areas["x"], "y": areas["y"]})
        targets = pd.DataFrame({"id": np.arange(len(sites)), "x": sites["x"], "y": sites["y"]})
        frame, _ = transit.travel_times(source.engine, origins, targets)
        out = np.full((len(areas), len(sites)), np.inf)
        secs = frame["seconds"].to_numpy(dtype=float)
        out[frame["from_id"].to_numpy(dtype=np.int64), frame["to_id"].to_numpy(dtype=np.int64)] = (
            np.nan_to_num(secs, nan=np.inf)
        )
        return out
    network = source.network
    assert network is not None
    points = pd.DataFrame({"k": np.arange(len(areas)), "x": areas["x"], "y": areas["y"]})
    return travel_time_array(network, snap(network, points, "k"), snap(network, sites, "id"))


def site_catchment(
    engine: Engine, site_id: int, *, mode: str, bands_min: list[int]
) -> dict[str, Any]:
    """Catchment bands of a site: isochrone polygons and the population in each band."""
    site, areas = area_times_to_site(engine, site_id, mode)
    source = catchment_source(engine, mode)
    result = catchment_bands(
        source, site, areas, areas["seconds"].to_numpy(dtype=float), bands_min=bands_min
    )
    features = [
        {
            "type": "Feature",
            "geometry": _geojson_wgs84(band.geometry),
            "properties": {"band_min": band.band_min, **band.extra, **band.population},
        }
        for band in result.bands
    ]
    return {
        "type": "FeatureCollection",
        "features": features,
        "site": site_summary(site),
        "total_population": round(float(areas["population"].sum()), 1),
        "metadata": result.metadata,
    }


def _geojson_wgs84(geom: Any) -> dict[str, Any]:
    """GeoJSON (WGS84, 6 decimals ≈ 0.1 m) of an EPSG:27700 geometry, reprojected in bulk."""
    import shapely

    if geom is None or geom.is_empty:
        return {"type": "MultiPolygon", "coordinates": []}

    def to_wgs84(coords: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        lon, lat = _TO_WGS.transform(coords[:, 0], coords[:, 1])
        return np.round(np.column_stack([lon, lat]), 6)

    mapped: dict[str, Any] = shapely.geometry.mapping(shapely.transform(geom, to_wgs84))
    return mapped


def access_map(engine: Engine, *, kind: str, mode: str, minutes: float) -> dict[str, Any]:
    """Per area (LSOA 2021): seconds to the nearest site of ``kind`` and sites within T."""
    with engine.connect() as conn:
        rows = pd.read_sql(
            text(
                "SELECT a.code, min(t.seconds) AS seconds, "
                "count(*) FILTER (WHERE t.seconds <= :lim) AS sites_within "
                "FROM areas a LEFT JOIN travel_times t ON t.area_code = a.code "
                "AND t.area_vintage = a.vintage AND t.mode = :m AND t.site_id IN "
                "(SELECT id FROM sites WHERE kind = :k AND status = 'active' AND NOT restricted) "
                "WHERE a.vintage = 2021 AND a.level = 'lsoa' GROUP BY a.code ORDER BY a.code"
            ),
            conn,
            params={"m": mode, "k": kind, "lim": minutes * 60.0},
        )
    return {
        "kind": kind,
        "mode": mode,
        "minutes": minutes,
        "areas": [
            {
                "code": r.code,
                "seconds": None if pd.isna(r.seconds) else round(float(r.seconds), 1),
                "sites_within": int(r.sites_within),
            }
            for r in _records(rows)
        ],
        "metadata": _mode_metadata(engine, mode),
    }


def population_within(
    engine: Engine,
    *,
    minutes: float,
    mode: str,
    origin: Origin | None = None,
    site_ids: list[int] | None = None,
) -> dict[str, Any]:
    """Population (by age band and IMD decile) within ``minutes`` of a point or of any site."""
    limit = minutes * 60.0
    with engine.connect() as conn:
        areas = area_table(conn)
        if site_ids:
            for sid in site_ids:
                _site_row(conn, sid)
            times = pd.read_sql(
                text(
                    "SELECT area_code AS code, min(seconds) AS seconds FROM travel_times "
                    "WHERE site_id = ANY(:s) AND mode = :m AND area_vintage = 2021 GROUP BY 1"
                ),
                conn,
                params={"s": site_ids, "m": mode},
            )
            areas = areas.merge(times, on="code", how="left")
    point_meta: dict[str, Any] | None = None
    if origin is not None and mode == "transit":
        from app.services import transit_analysis

        areas, point_meta = transit_analysis.population_within_point(
            engine, origin, minutes=minutes
        )
    elif origin is not None:
        network = get_network(engine, mode)
        point = pd.DataFrame({"k": [0], "x": [origin.x], "y": [origin.y]})
        snapped_origin = snap(network, point, "k")
        areas["k"] = np.arange(len(areas))
        area_pts = snap(network, areas, "k")
        areas["seconds"] = travel_time_array(network, area_pts, snapped_origin)[:, 0]
    seconds = np.nan_to_num(areas["seconds"].to_numpy(dtype=float), nan=np.inf)
    result = population_breakdown(areas, seconds <= limit)
    result.update(
        {
            "minutes": minutes,
            "mode": mode,
            "total_population": round(float(areas["population"].sum()), 1),
            "metadata": {
                **(point_meta if point_meta is not None else _mode_metadata(engine, mode)),
                "population_method": POPULATION_METHOD,
            },
        }
    )
    if origin is not None:
        lon, lat = origin.lonlat()
        result["origin"] = {"lon": lon, "lat": lat, "postcode": origin.postcode}
    if site_ids:
        result["site_ids"] = site_ids
    return result


def _kind_times(conn: Connection, *, kind: str, mode: str) -> pd.DataFrame:
    """Stored area (LSOA 2021) → site times for open sites of ``kind``: long frame."""
    return pd.read_sql(
        text(
            "SELECT t.area_code AS from_id, t.site_id AS to_id, t.seconds FROM travel_times t "
            "JOIN sites s ON s.id = t.site_id WHERE t.mode = :m AND t.area_vintage = 2021 "
            "AND s.kind = :k AND s.status = 'active' AND NOT s.restricted"
        ),
        conn,
        params={"m": mode, "k": kind},
    )


def floating_catchment(
    engine: Engine, *, kind: str, mode: str, minutes: float, enhanced: bool
) -> dict[str, Any]:
    """2SFCA (or E2SFCA with Luo & Qi's decay bands scaled to ``minutes``): sites per 1,000."""
    from spatial.access import two_step_fca

    with engine.connect() as conn:
        areas = area_table(conn)
        times = _kind_times(conn, kind=kind, mode=mode)
    demand = areas.set_index("code")["population"].astype(float)
    supply = pd.Series(1.0, index=sorted(times["to_id"].unique()))
    limit = minutes * 60.0
    # E2SFCA: weights 1, 0.68, 0.22 in three equal sub-bands of the catchment (Luo & Qi 2009).
    bands = [(limit / 3, 1.0), (2 * limit / 3, 0.68), (limit, 0.22)] if enhanced else None
    scores = two_step_fca(times, demand, supply, catchment_s=limit, bands=bands)
    return {
        "kind": kind,
        "mode": mode,
        "minutes": minutes,
        "method": "E2SFCA" if enhanced else "2SFCA",
        "supply": "sites (1 per site)",
        "per": 1000,
        "bands": scores.attrs["bands"],
        "areas": [
            {"code": r.area_id, "access": round(float(r.access), 9), "population": r.demand}
            for r in _records(scores)
        ],
        "metadata": _mode_metadata(engine, mode),
    }


def access_gaps(engine: Engine, *, kind: str, mode: str, limit: int) -> dict[str, Any]:
    """Areas ranked by need (IMD decile, share 65+) combined with poor access (time, 2SFCA)."""
    from spatial.access import access_gaps as rank_gaps
    from spatial.access import nearest_and_count, two_step_fca

    with engine.connect() as conn:
        areas = area_table(conn)
        times = _kind_times(conn, kind=kind, mode=mode)
    if times.empty:
        raise AnalysisInputError("kind", f"no stored {mode} times to sites of kind {kind!r}")
    nearest = nearest_and_count(times, area_ids=areas["code"].tolist(), thresholds_min=(15,))
    demand = areas.set_index("code")["population"].astype(float)
    fca = two_step_fca(
        times, demand, pd.Series(1.0, index=sorted(times["to_id"].unique())), catchment_s=1800.0
    )
    table = areas[["code", "name", "population", "pop_65_plus", "imd_decile"]].copy()
    table["share_65plus"] = (table["pop_65_plus"] / table["population"].replace(0, np.nan)).fillna(
        0.0
    )
    table["nearest_s"] = table["code"].map(nearest.set_index("area_id")["nearest_s"])
    table["access"] = table["code"].map(fca.set_index("area_id")["access"])
    table["imd_decile"] = table["imd_decile"].fillna(5)
    ranked = rank_gaps(table)
    rows = []
    for r in _records(ranked.head(limit)):
        rows.append(
            {
                "rank": int(r.gap_rank),
                "code": r.code,
                "name": r.name,
                "seconds": None if pd.isna(r.nearest_s) else round(float(r.nearest_s), 1),
                "imd_decile": int(r.imd_decile),
                "pop_65_plus_share": round(float(r.share_65plus), 4),
                "access_2sfca": round(float(r.access), 6),
                "need": round(float(r.need), 4),
                "poor_access": round(float(r.poor_access), 4),
                "score": round(float(r.gap_score), 4),
            }
        )
    return {
        "kind": kind,
        "mode": mode,
        "rows": rows,
        "method": (
            "score = need × poor_access; need = mean percentile rank of (11 − IMD decile) and "
            "share aged 65+; poor_access = mean percentile rank of time to the nearest site and "
            "of low 2SFCA (30 min) sites per 1,000 people; areas without an IMD decile take 5"
        ),
        "metadata": _mode_metadata(engine, mode),
    }


def available_modes(engine: Engine) -> list[str]:
    """Travel modes with data: a road network of that mode, ``transit`` with a GTFS feed."""
    with engine.connect() as conn:
        road = set(
            conn.execute(
                text(
                    "SELECT DISTINCT n.mode FROM network_nodes n JOIN data_loads l "
                    "ON l.id = n.load_id AND l.status = 'active'"
                )
            ).scalars()
        )
        feed = conn.execute(
            text("SELECT 1 FROM data_loads WHERE dataset = 'gtfs' AND status = 'active' LIMIT 1")
        ).first()
    modes = [m for m in ("drive", "walk", "cycle") if m in road]
    return [*modes, "transit"] if feed else modes
