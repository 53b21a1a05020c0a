"""Minimal GeoJSON (RFC 7946) models: geometries, ``Feature`` and ``FeatureCollection``.

geojson-pydantic is not installed in the project's environment, so these follow its API
(``Feature[Geometry, Properties]`` generics, one class per geometry type, discriminated by
``type``) closely enough to swap it in later. Only what the API writes is modelled: no
``bbox`` members and no GeometryCollection.
"""

from __future__ import annotations

from typing import Annotated, Generic, Literal, TypeVar

from pydantic import Field

from app.schemas.common import ResponseModel

__all__ = [
    "Feature",
    "FeatureCollection",
    "Geometry",
    "LineString",
    "MultiLineString",
    "MultiPoint",
    "MultiPolygon",
    "Point",
    "Polygon",
    "PolygonalGeometry",
    "Position",
]

#: A position: longitude, latitude (CRS84) or easting, northing (EPSG:27700); height optional.
Position = Annotated[list[float], Field(min_length=2, max_length=3)]


class Point(ResponseModel):
    """A GeoJSON Point."""

    type: Literal["Point"]
    coordinates: Position


class MultiPoint(ResponseModel):
    """A GeoJSON MultiPoint."""

    type: Literal["MultiPoint"]
    coordinates: list[Position]


class LineString(ResponseModel):
    """A GeoJSON LineString."""

    type: Literal["LineString"]
    coordinates: list[Position]


class MultiLineString(ResponseModel):
    """A GeoJSON MultiLineString."""

    type: Literal["MultiLineString"]
    coordinates: list[list[Position]]


class Polygon(ResponseModel):
    """A GeoJSON Polygon (linear rings, the first one the exterior)."""

    type: Literal["Polygon"]
    coordinates: list[list[Position]]


class MultiPolygon(ResponseModel):
    """A GeoJSON MultiPolygon (``coordinates`` is empty for an empty geometry)."""

    type: Literal["MultiPolygon"]
    coordinates: list[list[list[Position]]]


#: Any geometry the API writes, told apart by ``type``.
Geometry = Annotated[
    Point | MultiPoint | LineString | MultiLineString | Polygon | MultiPolygon,
    Field(discriminator="type"),
]
#: An area: a catchment band, an isochrone.
PolygonalGeometry = Annotated[Polygon | MultiPolygon, Field(discriminator="type")]

G = TypeVar("G")
P = TypeVar("P")


class Feature(ResponseModel, Generic[G, P]):
    """A GeoJSON Feature with geometry type ``G`` and properties type ``P``."""

    type: Literal["Feature"]
    geometry: G
    properties: P


F = TypeVar("F")


class FeatureCollection(ResponseModel, Generic[F]):
    """A GeoJSON FeatureCollection of features of type ``F``."""

    type: Literal["FeatureCollection"]
    features: list[F]
