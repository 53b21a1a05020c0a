"""OGC API Features documents (landing page to single feature, Part 2 CRS) and TileJSON.

The OGC routes write their JSON themselves (features are spliced in as PostgreSQL wrote them)
and return a ``Response``, so these models document the bodies without re-validating them.
"""

# Member names are the wire names the OGC API specifications use (numberMatched, jobID...).
# ruff: noqa: N815

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field

from app.schemas.common import JsonValue, Link, ResponseModel, Scalar
from app.schemas.geojson import Feature, FeatureCollection, Geometry

__all__ = [
    "CollectionInfo",
    "Collections",
    "ConformanceDeclaration",
    "Extent",
    "FeatureSchema",
    "LandingPage",
    "OGCFeature",
    "OGCFeatureCollection",
    "Queryables",
    "SpatialExtent",
    "TileJSON",
    "VectorLayer",
]

#: Feature properties of every collection: named scalars (dates are ISO 8601 text).
FeatureProperties = dict[str, Scalar]


class LandingPage(ResponseModel):
    """``GET /``: what the service is and links to the API definition, conformance, data."""

    title: str
    description: str
    attribution: str
    links: list[Link]


class ConformanceDeclaration(ResponseModel):
    """``GET /conformance``: the conformance classes implemented."""

    conformsTo: list[str] = Field(description="conformance class URIs")


class SpatialExtent(ResponseModel):
    """The bounding box of a collection's features."""

    bbox: list[list[float]] = Field(description="one [minx, miny, maxx, maxy] box, in crs")
    crs: str = Field(description="CRS of bbox (CRS84)")


class Extent(ResponseModel):
    """A collection's extent (spatial only: no collection is temporal)."""

    spatial: SpatialExtent


class CollectionInfo(ResponseModel):
    """``GET /collections/{collectionId}``: one collection's metadata (OGC collectionInfo)."""

    id: str
    title: str
    description: str
    keywords: list[str]
    attribution: str
    itemType: Literal["feature"]
    crs: list[str] = Field(description="CRS URIs offered for output (Part 2)")
    storageCrs: str = Field(description="the CRS the data is stored in (Part 2)")
    links: list[Link]
    extent: Extent | None = Field(default=None, description="absent when the collection is empty")


class Collections(ResponseModel):
    """``GET /collections``: every collection."""

    links: list[Link]
    crs: list[str] = Field(description="CRS URIs offered by every collection (Part 2)")
    collections: list[CollectionInfo]


class OGCFeature(Feature[Geometry | None, FeatureProperties]):
    """One feature of a collection (``/items/{featureId}`` adds ``links``)."""

    id: int | str = Field(description="feature id (integer, or text for composite keys)")
    links: list[Link] | None = None


class OGCFeatureCollection(FeatureCollection[OGCFeature]):
    """``GET /collections/{collectionId}/items``: a page of features.

    ``numberMatched`` is given on the last page (known without counting) and with
    ``resultType=hits`` (which returns no features); a ``next`` link carries the keyset cursor.
    """

    numberMatched: int | None = Field(default=None, ge=0)
    numberReturned: int = Field(ge=0)
    timeStamp: str = Field(json_schema_extra={"format": "date-time"})
    links: list[Link]


class _JSONSchemaDocument(ResponseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    schema_uri: str = Field(alias="$schema", description="JSON Schema dialect")
    id: str = Field(alias="$id", description="this document's URL")
    type: Literal["object"]
    title: str
    properties: dict[str, dict[str, JsonValue]]


class Queryables(_JSONSchemaDocument):
    """``GET /collections/{collectionId}/queryables``: the filterable properties as JSON
    Schema (each usable as ``name=value`` on ``/items`` and tiles)."""

    additionalProperties: Literal[False]


class FeatureSchema(_JSONSchemaDocument):
    """``GET /collections/{collectionId}/schema``: JSON Schema of one feature."""

    required: list[str]


class VectorLayer(ResponseModel):
    """One layer of a TileJSON document: its zoom range and field types."""

    id: str
    description: str
    minzoom: int = Field(ge=0, le=24)
    maxzoom: int = Field(ge=0, le=24)
    fields: dict[str, Literal["String", "Number", "Boolean"]]


class TileJSON(ResponseModel):
    """A TileJSON 3.0.0 document (for MapLibre): tile URL template, zooms, bounds, layers."""

    tilejson: Literal["3.0.0"]
    name: str
    attribution: str
    scheme: Literal["xyz"]
    tiles: list[str] = Field(description="tile URL templates ({z}/{x}/{y})")
    minzoom: int = Field(ge=0, le=24)
    maxzoom: int = Field(ge=0, le=24)
    bounds: list[float] = Field(
        min_length=4, max_length=4, description="west, south, east, north (CRS84)"
    )
    center: list[float] = Field(min_length=3, max_length=3, description="longitude, latitude, zoom")
    vector_layers: list[VectorLayer]
