"""The feature collections the API serves, and the SQL that reads them.

A collection is one registry entry (:data:`REGISTRY`): a table or view, its key column(s),
its geometry column and the properties it exposes. Adding a layer (catchments, travel-time
results, hub-siting results, estate assets) is one more :class:`Collection` in the registry.

All SQL is composed with :mod:`psycopg.sql`: table, column and property names come from the
registry (fixed at import time) as quoted identifiers; every value that came from a request
(bbox, filters, limit, keys, tile indices, the caller's organisation) is a bound parameter.

Row visibility lives in one place, :func:`visibility`: every statement here (items, item,
counts, extents, tiles) includes it, so the access-control step only has to give a
:class:`Principal` an organisation for restricted rows of that organisation to appear.

Output is built in SQL (``json_build_object``/``json_agg``, ``ST_AsGeoJSON``, ``ST_AsMVT``):
PostgreSQL writes the GeoJSON text and Python only splices it into the envelope, which keeps
pages of hundreds of features cheap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

from psycopg import AsyncConnection, sql

from app.auth import Principal, visible_sites_clause

PropertyType = Literal["string", "integer", "number", "boolean", "date"]

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG_27700 = "http://www.opengis.net/def/crs/EPSG/0/27700"
#: CRS URI -> SRID used in SQL. CRS84 is lon/lat WGS84 (SRID 4326 in PostGIS axis order).
CRS_SRID: dict[str, int] = {CRS84: 4326, EPSG_27700: 27700}
SRID_CRS: dict[int, str] = {4326: CRS84, 27700: EPSG_27700}

#: Area of use (lon/lat degrees) of each storage CRS: bboxes and tiles are clipped to it
#: before being projected, so a world-wide bbox or tile never reaches ST_Transform.
AREA_OF_USE: dict[int, tuple[float, float, float, float]] = {27700: (-10.0, 49.0, 3.0, 62.0)}

#: Coordinate decimals in GeoJSON output: 1e-7 degrees (~1 cm) or centimetres in BNG.
PRECISION: dict[int, int] = {4326: 7, 27700: 2}

ATTRIBUTION = (
    "© OpenStreetMap contributors, ODbL 1.0; Contains public sector information licensed "
    "under the Open Government Licence v3.0; Contains OS data © Crown copyright and database "
    "right"
)

MVT_EXTENT = 4096
MVT_BUFFER = 64


@dataclass(frozen=True)
class Property:
    """One feature property: its output name, JSON type and source column."""

    name: str
    type: PropertyType = "string"
    description: str = ""
    filterable: bool = False
    column: str | None = None

    @property
    def source(self) -> str:
        """The column in the collection's table or view."""
        return self.column or self.name


@dataclass(frozen=True)
class Collection:
    """A table or view served as an OGC API Features collection and a vector-tile layer."""

    id: str
    title: str
    description: str
    table: str
    properties: tuple[Property, ...]
    key: tuple[str, ...] = ("id",)
    key_types: tuple[type, ...] = (int,)
    geometry_column: str = "geom"
    geometry_type: str = "Point"
    storage_srid: int = 27700
    #: A fixed predicate over alias ``t`` from this registry (never from input).
    where: str | None = None
    #: Access control: rows with ``restricted`` true are visible to ``organisation`` only.
    restricted_column: str | None = None
    organisation_column: str | None = None
    #: Table to compute the extent from when ``table`` is an expensive view.
    extent_table: str | None = None
    tile_minzoom: int = 0
    tile_maxzoom: int = 22
    #: Stored copies of the geometry in other CRSs, ``((srid, column), ...)``: generated
    #: columns (migration 0006) that spare an ``ST_Transform`` per request (3857 for tiles,
    #: with its own GiST index; 4326 for CRS84 GeoJSON).
    projected_columns: tuple[tuple[int, str], ...] = ()
    keywords: tuple[str, ...] = ()
    attribution: str = ATTRIBUTION
    #: In the all-layers tile (``/tiles/...`` without ``collections``). Layers with many
    #: overlapping features per place (a travel time per area and site) are off by default.
    default_tile_layer: bool = True

    def projected(self, srid: int) -> str | None:
        """The stored column holding the geometry in ``srid``, if there is one."""
        return next((col for s, col in self.projected_columns if s == srid), None)

    def get_property(self, name: str) -> Property | None:
        """The property called ``name``, if any."""
        return next((p for p in self.properties if p.name == name), None)

    @property
    def filterable(self) -> tuple[Property, ...]:
        """Properties usable as ``name=value`` query parameters on ``/items``."""
        return tuple(p for p in self.properties if p.filterable)

    def parse_fid(self, fid: str) -> tuple[Any, ...] | None:
        """Key values from a feature id (``"12"``, or ``"walk.345"`` for composite keys)."""
        parts = fid.rsplit(".", len(self.key) - 1) if len(self.key) > 1 else [fid]
        if len(parts) != len(self.key):
            return None
        values: list[Any] = []
        for part, kind in zip(parts, self.key_types, strict=True):
            if kind is int:
                try:
                    number = int(part)
                except ValueError:
                    return None
                if not -(2**63) <= number < 2**63:
                    return None
                values.append(number)
            else:
                values.append(part)
        return tuple(values)


_SITE_KINDS = (
    "gp_practice, pharmacy, hospital, community_hospital, care_site, council_building, ..."
)

#: Estate figures of a site (sites and estate assets).
_ESTATE_FIGURES = (
    Property("gia_m2", "number", "gross internal floor area, m²"),
    Property("land_ha", "number", "land area, hectares"),
    Property("running_cost_gbp", "number", "running cost, £ per year"),
    Property("backlog_gbp", "number", "backlog maintenance cost, £"),
)
#: The site a stored result belongs to (catchments, travel times).
_SITE_OF_RESULT = (
    Property("site_id", "integer", "the site (collection sites)", True),
    Property("site_name"),
    Property("site_kind", filterable=True),
)

REGISTRY: dict[str, Collection] = {
    c.id: c
    for c in (
        Collection(
            id="sites",
            title="Sites",
            description=(
                "Buildings and service points of every owner (GP practices, pharmacies, "
                f"hospitals, care sites, council buildings); kind is one of {_SITE_KINDS}."
            ),
            table="sites",
            where="t.geom IS NOT NULL",
            restricted_column="restricted",
            organisation_column="organisation",
            properties=(
                Property("source_id", description="ODS code, ERIC site code or UPRN"),
                Property("source", filterable=True, description="dataset the site came from"),
                Property("kind", filterable=True),
                Property("name"),
                Property("owner"),
                Property("owner_type", filterable=True),
                Property("status", filterable=True, description="active or closed"),
                Property("tenure"),
                *_ESTATE_FIGURES,
                Property("postcode"),
            ),
            keywords=("health", "estate", "sites"),
        ),
        Collection(
            id="areas",
            title="Statistical areas",
            description=(
                "LSOA/MSOA boundaries with population (latest source), people aged 65+ and "
                "IMD 2019 decile (1 = most deprived; published on LSOA 2011 codes: a 2021 code "
                "with no 2011 equal takes the decile of the best-fit LSOA 2011, the one "
                "containing its representative point, named in imd_source_code)."
            ),
            table="areas_features",
            extent_table="areas",
            geometry_type="MultiPolygon",
            projected_columns=((3857, "geom_3857"), (4326, "geom_4326")),
            properties=(
                Property("code", filterable=True, description="ONS area code"),
                Property("name"),
                Property("level", filterable=True, description="lsoa or msoa"),
                Property("vintage", "integer", "boundary vintage (2011 or 2021)", True),
                Property("lad_code", filterable=True, description="local authority code"),
                Property("population", "number", "usual residents, latest source"),
                Property("pop_65_plus", "number", "residents aged 65 and over"),
                Property("imd_decile", "integer", "IMD 2019 decile, 1 = most deprived", True),
                Property(
                    "imd_source_code",
                    description="LSOA 2011 code the IMD decile comes from: the area's own code, "
                    "or the best-fit LSOA 2011 for a 2021 code with no 2011 equal",
                    filterable=True,
                ),
            ),
            keywords=("population", "deprivation", "LSOA"),
        ),
        Collection(
            id="postcodes",
            title="Postcodes",
            description="Postcode points (Code-Point Open, ONS Postcode Directory).",
            table="postcodes",
            properties=(
                Property("postcode", filterable=True),
                Property("source", filterable=True),
                Property("vintage"),
                Property("lsoa21", filterable=True, description="LSOA 2021 code"),
            ),
            tile_minzoom=10,
            keywords=("postcode",),
        ),
        Collection(
            id="network_edges",
            title="Road and path network",
            description="Routable network edges per travel mode (OpenStreetMap).",
            table="network_edges",
            key=("mode", "edge_id"),
            key_types=(str, int),
            geometry_type="LineString",
            projected_columns=((3857, "geom_3857"), (4326, "geom_4326")),
            properties=(
                Property("mode", filterable=True, description="travel mode"),
                Property("edge_id", "integer"),
                Property("source", "integer", "source node id"),
                Property("target", "integer", "target node id"),
                Property("length_m", "number", "length, metres"),
                Property("cost_s", "number", "travel time source→target, seconds (-1 closed)"),
                Property(
                    "reverse_cost_s", "number", "travel time target→source, seconds (-1 closed)"
                ),
                Property("osm_way_id", "integer"),
                Property("highway", filterable=True, description="OSM highway tag"),
            ),
            tile_minzoom=11,
            keywords=("network", "OpenStreetMap"),
        ),
        Collection(
            id="catchments",
            title="Catchments",
            description=(
                "Stored catchment bands of sites by travel mode (nested isochrones, band_min "
                "minutes) with the population inside each band; computed by the `catchments` "
                "process. Visible when the site is."
            ),
            table="catchment_features",
            geometry_type="MultiPolygon",
            restricted_column="restricted",
            organisation_column="organisation",
            properties=(
                *_SITE_OF_RESULT,
                Property("mode", filterable=True, description="travel mode"),
                Property("band_min", "integer", "band upper limit, minutes", True),
                Property("population", "number", "usual residents within the band"),
                Property("network_load_id", "integer", "data load the band was computed on"),
            ),
            keywords=("catchment", "isochrone", "population"),
        ),
        Collection(
            id="travel_times",
            title="Travel times from areas to sites",
            description=(
                "Stored travel time from each area (its representative point) to each site by "
                "mode: one feature per area and site, with the area's polygon. Filter by "
                "site_id and mode for one site's access map. Visible when the site is."
            ),
            table="travel_time_features",
            key=("mode", "site_id", "area_vintage", "area_code"),
            key_types=(str, int, int, str),
            geometry_type="MultiPolygon",
            projected_columns=((3857, "geom_3857"), (4326, "geom_4326")),
            restricted_column="restricted",
            organisation_column="organisation",
            properties=(
                Property("mode", filterable=True, description="travel mode"),
                *_SITE_OF_RESULT,
                Property("area_code", filterable=True, description="ONS area code"),
                Property("area_vintage", "integer", "area boundary vintage", True),
                Property("area_name"),
                Property("seconds", "number", "travel time, seconds"),
                Property("minutes", "number", "travel time, minutes (0.1)"),
                Property("network_load_id", "integer", "data load the time was computed on"),
            ),
            default_tile_layer=False,
            keywords=("travel time", "accessibility"),
        ),
        Collection(
            id="hub_siting",
            title="Hub siting results",
            description=(
                "Sites chosen by successful hub-siting jobs (one point per chosen site, rank "
                "in the job's order) with what the job assigned to each: areas, demand and "
                "demand-weighted mean and worst minutes. Filter by job_id. Visible when the "
                "job is."
            ),
            table="hub_siting_features",
            key=("job_id", "rank"),
            key_types=(str, int),
            restricted_column="restricted",
            organisation_column="organisation",
            properties=(
                Property("job_id", filterable=True, description="the job (/jobs/{job_id})"),
                Property("rank", "integer", "order of the site in the job's choice"),
                Property("site_id", "integer", "the chosen site", True),
                Property("name"),
                Property("kind", filterable=True),
                Property("kept", "boolean", "kept open by the job's inputs", True),
                Property("objective", filterable=True, description="p-median, mclp, ..."),
                Property("mode", filterable=True, description="travel mode"),
                Property("p", "integer", "number of sites asked for"),
                Property("areas_assigned", "integer", "areas served by this site"),
                Property("demand_assigned", "number", "demand weight served by this site"),
                Property("mean_minutes", "number", "demand-weighted mean travel time, min"),
                Property("max_minutes", "number", "worst travel time of its areas, min"),
                Property("finished_at", description="when the job finished (UTC)"),
            ),
            keywords=("location-allocation", "hub siting"),
        ),
        Collection(
            id="estate_assets",
            title="Estate assets",
            description=(
                "Located sites with estate figures (tenure, floor area, land, running and "
                "backlog cost; ERIC, council registers, uploads), with running and backlog "
                "cost per m² of gross internal floor area."
            ),
            table="estate_asset_features",
            restricted_column="restricted",
            organisation_column="organisation",
            properties=(
                Property("source_id", description="ERIC site code, UPRN or your asset id"),
                Property("source", filterable=True, description="dataset the asset came from"),
                Property("name"),
                Property("kind", filterable=True),
                Property("owner"),
                Property("owner_type", filterable=True),
                Property("status", filterable=True, description="active or closed"),
                Property("tenure", filterable=True),
                *_ESTATE_FIGURES,
                Property("cost_per_m2_gbp", "number", "running cost per m² of floor area, £"),
                Property("backlog_per_m2_gbp", "number", "backlog cost per m² of floor area, £"),
                Property("postcode"),
            ),
            keywords=("estate", "ERIC", "assets"),
        ),
    )
}


# --------------------------------------------------------------------------------------------
# SQL building blocks


def _col(name: str) -> sql.Composable:
    return sql.SQL("t.{}").format(sql.Identifier(name))


def _table(c: Collection, *, for_extent: bool = False) -> sql.Composable:
    name = (c.extent_table or c.table) if for_extent else c.table
    return sql.SQL("{} AS t").format(sql.Identifier(name))


def visibility(c: Collection, principal: Principal, params: dict[str, Any]) -> sql.Composable:
    """The row filter for ``principal``: the single place access control applies."""
    parts: list[sql.Composable] = []
    if c.where:
        parts.append(sql.SQL(c.where))  # fixed registry text, never request input
    if c.restricted_column:
        clause, clause_params = visible_sites_clause(
            principal,
            alias=None,
            restricted_column=c.restricted_column,
            organisation_column=c.organisation_column or "organisation",
        )
        params.update(clause_params)
        parts.append(clause)
    return sql.SQL(" AND ").join(parts) if parts else sql.SQL("TRUE")


def clip_to_area_of_use(
    bbox: tuple[float, float, float, float], srid: int
) -> tuple[float, float, float, float] | None:
    """A lon/lat bbox clipped to the storage CRS's area of use, or None if disjoint."""
    area = AREA_OF_USE.get(srid)
    if area is None:
        return bbox
    minx, miny = max(bbox[0], area[0]), max(bbox[1], area[1])
    maxx, maxy = min(bbox[2], area[2]), min(bbox[3], area[3])
    if minx > maxx or miny > maxy:
        return None
    return (minx, miny, maxx, maxy)


def _bbox_filter(
    c: Collection,
    bbox: tuple[float, float, float, float],
    bbox_srid: int,
    params: dict[str, Any],
) -> sql.Composable:
    """``ST_Intersects`` against the bbox projected to the column SRID (GiST index used)."""
    params.update(bx0=bbox[0], by0=bbox[1], bx1=bbox[2], by1=bbox[3])
    envelope = sql.SQL("ST_MakeEnvelope(%(bx0)s, %(by0)s, %(bx1)s, %(by1)s, {srid})").format(
        srid=sql.Literal(bbox_srid)
    )
    if bbox_srid != c.storage_srid:
        # Densify so the projected box keeps its curved edges (1/32 of the box per segment).
        params["seg"] = max(bbox[2] - bbox[0], bbox[3] - bbox[1]) / 32 or 1e-6
        envelope = sql.SQL("ST_Transform(ST_Segmentize({e}, %(seg)s), {srid})").format(
            e=envelope, srid=sql.Literal(c.storage_srid)
        )
    return sql.SQL("ST_Intersects({g}, {e})").format(g=_col(c.geometry_column), e=envelope)


def _property_filters(
    c: Collection, filters: dict[str, list[Any]], params: dict[str, Any]
) -> list[sql.Composable]:
    parts: list[sql.Composable] = []
    for i, (name, values) in enumerate(sorted(filters.items())):
        prop = c.get_property(name)
        assert prop is not None  # unknown and non-filterable names rejected by the dependency
        params[f"f{i}"] = values
        parts.append(sql.SQL("{} = ANY({})").format(_col(prop.source), sql.Placeholder(f"f{i}")))
    return parts


def _fid_expr(c: Collection) -> sql.Composable:
    if len(c.key) == 1:
        return _col(c.key[0])
    return sql.SQL("concat_ws('.', {})").format(sql.SQL(", ").join(_col(k) for k in c.key))


def _order(c: Collection) -> sql.Composable:
    return sql.SQL(", ").join(_col(k) for k in c.key)


def _value(p: Property) -> sql.Composable:
    return _col(p.source)


def _feature_json(c: Collection, out_srid: int) -> sql.Composable:
    geom = _col(c.geometry_column)
    stored = c.projected(out_srid)
    if stored is not None:
        geom = _col(stored)
    elif out_srid != c.storage_srid:
        geom = sql.SQL("ST_Transform({}, {})").format(geom, sql.Literal(out_srid))
    props = sql.SQL(", ").join(
        sql.SQL("{}, {}").format(sql.Literal(p.name), _value(p)) for p in c.properties
    )
    return sql.SQL(
        "json_build_object('type', 'Feature', 'id', {fid}, "
        "'geometry', ST_AsGeoJSON({geom}, {prec}, 0)::json, "
        "'properties', json_build_object({props}))"
    ).format(
        fid=_fid_expr(c),
        geom=geom,
        prec=sql.Literal(PRECISION.get(out_srid, 7)),
        props=props,
    )


@dataclass
class ItemsQuery:
    """A parsed ``/items`` request (see :mod:`app.dependencies`)."""

    limit: int
    offset: int = 0
    after: tuple[Any, ...] | None = None
    bbox: tuple[float, float, float, float] | None = None
    bbox_srid: int = 4326
    out_srid: int = 4326
    filters: dict[str, list[Any]] = field(default_factory=dict)


def _where(
    c: Collection, q: ItemsQuery, principal: Principal, params: dict[str, Any]
) -> sql.Composable | None:
    """The WHERE clause, or None when the bbox cannot match anything (outside the CRS)."""
    parts = [visibility(c, principal, params)]
    if q.bbox is not None:
        bbox = q.bbox
        if q.bbox_srid != c.storage_srid:
            clipped = clip_to_area_of_use(bbox, c.storage_srid)
            if clipped is None:
                return None
            bbox = clipped
        parts.append(_bbox_filter(c, bbox, q.bbox_srid, params))
    parts.extend(_property_filters(c, q.filters, params))
    return sql.SQL(" AND ").join(parts)


def items_statement(
    c: Collection, q: ItemsQuery, principal: Principal
) -> tuple[sql.Composed, dict[str, Any]] | None:
    """One statement returning (features JSON array, count, last fid, has more)."""
    params: dict[str, Any] = {"limit": q.limit, "offset": q.offset}
    where = _where(c, q, principal, params)
    if where is None:
        return None
    if q.after is not None:
        for i, value in enumerate(q.after):
            params[f"k{i}"] = value
        keys = sql.SQL(", ").join(sql.Placeholder(f"k{i}") for i in range(len(c.key)))
        where = sql.SQL("{} AND ({}) > ({})").format(where, _order(c), keys)
    key_cols = sql.SQL(", ").join(
        sql.SQL("{} AS {}").format(_col(k), sql.Identifier(f"_k{i}")) for i, k in enumerate(c.key)
    )
    key_order = sql.SQL(", ").join(sql.Identifier(f"_k{i}") for i in range(len(c.key)))
    join = sql.SQL(" AND ").join(
        sql.SQL("{} = p.{}").format(_col(k), sql.Identifier(f"_k{i}")) for i, k in enumerate(c.key)
    )
    # The page's keys first (LIMIT/OFFSET over keys only), then the features of those rows:
    # skipped rows (offset) and the look-ahead row are never turned into GeoJSON.
    stmt = sql.SQL(
        "WITH keys AS ("
        " SELECT {key_cols} FROM {table} WHERE {where} ORDER BY {order}"
        " LIMIT %(limit)s + 1 OFFSET %(offset)s"
        "), page AS (SELECT row_number() OVER (ORDER BY {key_order}) AS _rn, * FROM keys)"
        " SELECT coalesce(json_agg({feature} ORDER BY p._rn) FILTER (WHERE p._rn <= %(limit)s),"
        " '[]')::text, count(*) FILTER (WHERE p._rn <= %(limit)s),"
        " max({fid}::text) FILTER (WHERE p._rn = %(limit)s), count(*) > %(limit)s"
        " FROM page AS p JOIN {table} ON {join}"
    ).format(
        key_cols=key_cols,
        fid=_fid_expr(c),
        feature=_feature_json(c, q.out_srid),
        table=_table(c),
        where=where,
        order=_order(c),
        key_order=key_order,
        join=join,
    )
    return stmt, params


def count_statement(
    c: Collection, q: ItemsQuery, principal: Principal
) -> tuple[sql.Composed, dict[str, Any]] | None:
    """``count(*)`` of the features matching ``q`` (for ``resultType=hits`` only)."""
    params: dict[str, Any] = {}
    where = _where(c, q, principal, params)
    if where is None:
        return None
    return sql.SQL("SELECT count(*) FROM {} WHERE {}").format(_table(c), where), params


def item_statement(
    c: Collection, key: tuple[Any, ...], out_srid: int, principal: Principal
) -> tuple[sql.Composed, dict[str, Any]]:
    """One feature as GeoJSON text, or no row."""
    params: dict[str, Any] = {f"k{i}": v for i, v in enumerate(key)}
    match = sql.SQL(" AND ").join(
        sql.SQL("{} = {}").format(_col(k), sql.Placeholder(f"k{i}")) for i, k in enumerate(c.key)
    )
    where = sql.SQL("{} AND {}").format(visibility(c, principal, params), match)
    stmt = sql.SQL("SELECT {}::text FROM {} WHERE {}").format(
        _feature_json(c, out_srid), _table(c), where
    )
    return stmt, params


def extent_statement(c: Collection, principal: Principal) -> tuple[sql.Composed, dict[str, Any]]:
    """The collection's bbox in CRS84 (each feature's envelope projected), NULLs if empty."""
    params: dict[str, Any] = {}
    where = visibility(c, principal, params)
    stmt = sql.SQL(
        "WITH e AS (SELECT ST_Extent(ST_Transform(ST_Envelope({g}), 4326))::geometry AS g"
        " FROM {table} WHERE {where})"
        " SELECT ST_XMin(g), ST_YMin(g), ST_XMax(g), ST_YMax(g) FROM e"
    ).format(
        g=_col(c.geometry_column),
        table=_table(c, for_extent=True),
        where=where,
    )
    return stmt, params


def tile_lonlat_bounds(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    """WebMercatorQuad tile ``z/x/y`` as (west, south, east, north) in degrees."""
    n = 2.0**z

    def lat(row: float) -> float:
        return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * row / n))))

    return (x / n * 360.0 - 180.0, lat(y + 1), (x + 1) / n * 360.0 - 180.0, lat(y))


def tile_statement(
    c: Collection,
    z: int,
    x: int,
    y: int,
    principal: Principal,
    filters: dict[str, list[Any]] | None = None,
) -> tuple[sql.Composed, dict[str, Any]] | None:
    """``ST_AsMVT`` over ``ST_AsMVTGeom`` for one tile, or None when it cannot hold data."""
    west, south, east, north = tile_lonlat_bounds(z, x, y)
    # Search box: the tile plus its MVT buffer, in lon/lat, clipped to the CRS's area of use.
    pad_x = (east - west) * MVT_BUFFER / MVT_EXTENT
    pad_y = (north - south) * MVT_BUFFER / MVT_EXTENT
    search = (west - pad_x, max(south - pad_y, -85.06), east + pad_x, min(north + pad_y, 85.06))
    clipped = clip_to_area_of_use(search, c.storage_srid)
    if clipped is None:
        return None
    params: dict[str, Any] = {"z": z, "x": x, "y": y}
    stored = c.projected(3857)
    if stored is not None:
        # Web Mercator copy with its own index: the tile plus its buffer, no transform.
        params["margin"] = MVT_BUFFER / MVT_EXTENT
        geom: sql.Composable = _col(stored)
        search_filter: sql.Composable = sql.SQL(
            "{} && ST_TileEnvelope(%(z)s, %(x)s, %(y)s, margin => %(margin)s)"
        ).format(geom)
    else:
        geom = sql.SQL("ST_Transform({}, 3857)").format(_col(c.geometry_column))
        search_filter = _bbox_filter(c, clipped, 4326, params)
    where = sql.SQL(" AND ").join(
        [
            visibility(c, principal, params),
            search_filter,
            *_property_filters(c, filters or {}, params),
        ]
    )
    props = [
        sql.SQL("{}::text AS {}" if p.type == "date" else "{} AS {}").format(
            _value(p), sql.Identifier(p.name)
        )
        for p in c.properties
    ]
    feature_id: sql.Composable = sql.SQL("")
    id_arg: sql.Composable = sql.SQL("NULL")
    if len(c.key) == 1 and c.key_types[0] is int:
        feature_id = sql.SQL(", {} AS _fid").format(_col(c.key[0]))
        id_arg = sql.Literal("_fid")
    stmt = sql.SQL(
        "WITH bounds AS (SELECT ST_TileEnvelope(%(z)s, %(x)s, %(y)s) AS env),"
        " mvt AS (SELECT ST_AsMVTGeom({g}, bounds.env, {extent}, {buffer},"
        " true) AS _geom, {props}{feature_id} FROM {table}, bounds WHERE {where}"
        " ORDER BY {order})"
        " SELECT ST_AsMVT(mvt.*, {layer}, {extent}, '_geom', {id_arg}) FROM mvt"
        " WHERE _geom IS NOT NULL"
    ).format(
        g=geom,
        order=_order(c),
        extent=sql.Literal(MVT_EXTENT),
        buffer=sql.Literal(MVT_BUFFER),
        props=sql.SQL(", ").join(props),
        feature_id=feature_id,
        table=_table(c),
        where=where,
        layer=sql.Literal(c.id),
        id_arg=id_arg,
    )
    return stmt, params


# --------------------------------------------------------------------------------------------
# Running the statements


@dataclass
class ItemsPage:
    """One page of features: the GeoJSON array text and what the links need."""

    features_json: str
    returned: int
    last_fid: str | None
    has_more: bool


async def fetch_items(
    conn: AsyncConnection[Any], c: Collection, q: ItemsQuery, principal: Principal
) -> ItemsPage:
    """Run :func:`items_statement`."""
    built = items_statement(c, q, principal)
    if built is None:
        return ItemsPage("[]", 0, None, False)
    stmt, params = built
    cur = await conn.execute(stmt, params)
    row = await cur.fetchone()
    assert row is not None
    return ItemsPage(row[0], int(row[1]), row[2], bool(row[3]))


async def count_items(
    conn: AsyncConnection[Any], c: Collection, q: ItemsQuery, principal: Principal
) -> int:
    """Run :func:`count_statement`."""
    built = count_statement(c, q, principal)
    if built is None:
        return 0
    stmt, params = built
    cur = await conn.execute(stmt, params)
    row = await cur.fetchone()
    return int(row[0]) if row else 0


async def fetch_item(
    conn: AsyncConnection[Any], c: Collection, key: tuple[Any, ...], out_srid: int, p: Principal
) -> str | None:
    """Run :func:`item_statement`: the feature's GeoJSON text or None."""
    stmt, params = item_statement(c, key, out_srid, p)
    cur = await conn.execute(stmt, params)
    row = await cur.fetchone()
    return row[0] if row else None


async def fetch_extent(
    conn: AsyncConnection[Any], c: Collection, principal: Principal
) -> tuple[float, float, float, float] | None:
    """Run :func:`extent_statement`."""
    stmt, params = extent_statement(c, principal)
    cur = await conn.execute(stmt, params)
    row = await cur.fetchone()
    if row is None or row[0] is None:
        return None
    return (float(row[0]), float(row[1]), float(row[2]), float(row[3]))


async def fetch_tile(
    conn: AsyncConnection[Any],
    c: Collection,
    z: int,
    x: int,
    y: int,
    principal: Principal,
    filters: dict[str, list[Any]] | None = None,
) -> bytes:
    """Run :func:`tile_statement`: the MVT bytes (empty when no feature touches the tile)."""
    if z < c.tile_minzoom or z > c.tile_maxzoom:
        return b""
    built = tile_statement(c, z, x, y, principal, filters)
    if built is None:
        return b""
    stmt, params = built
    cur = await conn.execute(stmt, params)
    row = await cur.fetchone()
    return bytes(row[0]) if row and row[0] is not None else b""
