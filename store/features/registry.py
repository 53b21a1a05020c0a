"""The feature collections Locus serves: one registry entry per table or view.

A collection (:class:`Collection`) names a table or view, its key column(s), its geometry
column and the properties it exposes; :data:`REGISTRY` lists them in the order the API shows
them. Adding a layer (catchments, travel-time results, hub-siting results, estate assets) is
one more entry. Every name here is fixed at import time and reaches SQL only as a quoted
identifier (:mod:`store.features.queries`); nothing in the registry comes from a request.

Collections whose rows are restricted (sites, results derived from sites, estate assets,
jobs) name their ``restricted`` and ``organisation`` columns, and every query over them
applies :func:`store.access.visible_rows`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from spatial.kinds import KIND_LABELS
from spatial.modes import MODES

__all__ = [
    "ATTRIBUTION",
    "CRS84",
    "CRS_SRID",
    "EPSG_27700",
    "REGISTRY",
    "SRID_CRS",
    "Collection",
    "Property",
    "PropertyType",
    "TileParts",
]

PropertyType = Literal["string", "integer", "number", "boolean", "date"]

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG_27700 = "http://www.opengis.net/def/crs/EPSG/0/27700"
#: CRS URI -> SRID of the CRSs features are served in. CRS84 is lon/lat WGS84 (SRID 4326 in
#: PostGIS axis order); 27700 is British National Grid, the storage CRS.
CRS_SRID: dict[str, int] = {CRS84: 4326, EPSG_27700: 27700}
SRID_CRS: dict[int, str] = {4326: CRS84, 27700: EPSG_27700}

ATTRIBUTION = (
    "© OpenStreetMap contributors, ODbL 1.0; Contains public sector information licensed "
    "under the Open Government Licence v3.0; Contains OS data © Crown copyright and database "
    "right"
)


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
class TileParts:
    """Stored generalised pieces of a layer's geometry, one per feature and tile (EPSG:3857).

    ``table`` has ``(<key>, z, x, y, npoints, geom)``: the feature's geometry inside tile
    ``z/x/y`` and its MVT buffer, simplified to a pixel of zoom ``z``, for every zoom up to
    ``max_zoom`` (migration 0012 builds them for catchments). A tile deeper than ``max_zoom``
    reads the pieces of its ancestor at ``max_zoom``.
    """

    table: str
    key_column: str
    max_zoom: int = 14

    def source_tile(self, z: int, x: int, y: int) -> tuple[int, int, int]:
        """The stored tile whose pieces cover tile ``z/x/y``."""
        if z <= self.max_zoom:
            return z, x, y
        shift = z - self.max_zoom
        return self.max_zoom, x >> shift, y >> shift


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
    #: Restricted rows: the columns :func:`store.access.visible_rows` filters on (None: open).
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
    #: Stored generalised pieces per tile (a layer whose stored geometry grows with use);
    #: tiles read them instead of the table's geometry. Needs a single integer key.
    tile_parts: TileParts | None = None
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


#: Kinds the bundled loaders make (an uploaded register may bring its own).
_SITE_KINDS = ", ".join(KIND_LABELS) + ", ..."
#: The travel mode of a network edge or a stored result.
_MODE = Property("mode", filterable=True, description="travel mode: " + ", ".join(MODES))

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
                _MODE,
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
                _MODE,
                Property("band_min", "integer", "band upper limit, minutes", True),
                Property("population", "number", "usual residents within the band"),
                Property("network_load_id", "integer", "data load the band was computed on"),
            ),
            tile_parts=TileParts("catchment_tile_parts", "catchment_id"),
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
                _MODE,
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
                _MODE,
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
