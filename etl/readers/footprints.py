"""Custom footprint polygons an organisation uploads: GeoJSON or GeoPackage → polygons in
EPSG:27700 with a code and a name each.

Whole-file problems (not GeoJSON, cut off, no features, unknown CRS, a GeoPackage without a
CRS, too many features, no such code property) raise :class:`~etl.loading.LoadError`; a bad
feature (no geometry, not a polygon, outside Great Britain, invalid beyond repair, empty or
repeated code) is a :class:`~etl.loading.Reject` naming its feature number, and the caller
refuses the upload when there is any, so nothing is stored.

Each feature's code is the ``code_field`` property when given, else the first property named
``code`` or ``id`` (any case), else one ending in ``CD`` as ONS names its codes (``PCN23CD``);
without one the feature's number is its code. Its name likewise: ``name_field``, ``name``, a
property ending in ``NM``, or none.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyogrio
import shapely
from shapely.geometry import MultiPolygon, Polygon, shape
from shapely.geometry.base import BaseGeometry

from etl.loading import LoadError, Reject
from etl.readers.common import BNG_BOUNDS, UK_LONLAT_BOUNDS, require_file
from spatial.crs import BNG, wgs84_to_bng

__all__ = ["MAX_FEATURES", "ParsedFootprints", "UploadedPolygon", "read_footprint_file"]

#: Polygons one upload may hold.
MAX_FEATURES = 5000
_WGS84 = {
    "urn:ogc:def:crs:OGC:1.3:CRS84",
    "urn:ogc:def:crs:OGC::CRS84",
    "urn:ogc:def:crs:EPSG::4326",
    "EPSG:4326",
}
_BNG = {"urn:ogc:def:crs:EPSG::27700", "EPSG:27700"}
_CODE_SUFFIX = re.compile(r"CD$", re.IGNORECASE)
_NAME_SUFFIX = re.compile(r"NM$", re.IGNORECASE)


@dataclass(frozen=True)
class UploadedPolygon:
    """One accepted feature: number in the file, code, name, (Multi)polygon in EPSG:27700."""

    feature: int
    code: str
    name: str | None
    geom: MultiPolygon


@dataclass
class ParsedFootprints:
    """What :func:`read_footprint_file` made of a file."""

    polygons: list[UploadedPolygon]
    rejects: list[Reject]
    notes: list[str] = field(default_factory=list)
    code_field: str | None = None
    name_field: str | None = None


def _pick(
    keys: list[str], wanted: str | None, plain: tuple[str, ...], suffix: re.Pattern[str]
) -> str | None:
    if wanted is not None:
        return wanted
    lower = {k.lower(): k for k in keys}
    for name in plain:
        if name in lower:
            return lower[name]
    return next((k for k in keys if suffix.search(k)), None)


def _geojson(
    path: Path,
) -> tuple[list[dict[str, Any]], list[BaseGeometry | None], int, list[Reject]]:
    """Properties, shapely geometries (None when unusable), the EPSG and per-feature rejects."""
    try:
        with path.open("rb") as handle:
            doc = json.load(handle)
    except json.JSONDecodeError as exc:
        raise LoadError(
            path,
            f"not valid GeoJSON (cut off or corrupted?): {exc.msg} at line {exc.lineno} "
            f"column {exc.colno}",
        ) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise LoadError(path, f"cannot read the file as GeoJSON text ({exc})") from exc
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
        raise LoadError(path, "not a GeoJSON FeatureCollection")
    features = doc.get("features")
    if not isinstance(features, list) or not features:
        raise LoadError(path, "the FeatureCollection has no features")
    crs = doc.get("crs")
    if crs is not None and not isinstance(crs, dict):
        raise LoadError(path, "the 'crs' member is not an object")
    name = str((crs.get("properties") or {}).get("name", "")) if crs else ""
    if not crs or name in _WGS84:
        epsg = 4326
    elif name in _BNG:
        epsg = BNG
    else:
        raise LoadError(path, f"unsupported CRS {name!r}: expected WGS84 (CRS84) or EPSG:27700")
    props: list[dict[str, Any]] = []
    geoms: list[BaseGeometry | None] = []
    rejects: list[Reject] = []
    for number, feature in enumerate(features, start=1):
        if not isinstance(feature, dict):
            props.append({})
            geoms.append(None)
            rejects.append(Reject(number, f"feature {number}: not a GeoJSON Feature object"))
            continue
        props.append(dict(feature.get("properties") or {}))
        raw = feature.get("geometry")
        if not raw:
            geoms.append(None)
            rejects.append(Reject(number, f"feature {number}: has no geometry"))
            continue
        try:
            geoms.append(shape(raw))
        except (ValueError, TypeError, AttributeError, KeyError, IndexError) as exc:
            geoms.append(None)
            rejects.append(Reject(number, f"feature {number}: bad geometry ({exc})"))
    return props, geoms, epsg, rejects


def _geopackage(
    path: Path,
) -> tuple[list[dict[str, Any]], list[BaseGeometry | None], int, list[Reject]]:
    try:
        frame = pyogrio.read_dataframe(path)
    except Exception as exc:  # any GDAL failure means a bad file
        raise LoadError(path, f"not a readable GeoPackage ({exc})") from exc
    if not len(frame):
        raise LoadError(path, "the GeoPackage layer has no features")
    if frame.crs is None:
        raise LoadError(path, "the GeoPackage layer has no CRS")
    frame = frame.to_crs(BNG)
    props = [
        {str(k): v for k, v in rec.items() if v is not None}
        for rec in frame.drop(columns=frame.geometry.name).to_dict("records")
    ]
    geoms: list[BaseGeometry | None] = [
        None if g is None or g.is_empty else g for g in frame.geometry.to_numpy()
    ]
    rejects = [
        Reject(i, f"feature {i}: has no geometry") for i, g in enumerate(geoms, 1) if g is None
    ]
    return props, geoms, BNG, rejects


def _repair(geom: MultiPolygon) -> MultiPolygon | None:
    """``make_valid`` keeping the polygonal parts; None when that changes the area by more
    than 0.1 % (a real error rather than a self-touching ring)."""
    fixed = shapely.make_valid(geom)
    parts = [g for g in shapely.get_parts(fixed) if isinstance(g, Polygon | MultiPolygon)]
    polys = [p for g in parts for p in (g.geoms if isinstance(g, MultiPolygon) else [g])]
    if not polys:
        return None
    result = MultiPolygon(polys)
    if not result.is_valid:
        union = shapely.union_all(polys)
        if isinstance(union, Polygon):
            union = MultiPolygon([union])
        if not isinstance(union, MultiPolygon):
            return None
        result = union
    if not result.is_valid or abs(result.area - geom.area) > 0.001 * max(geom.area, 1.0):
        return None
    return result


def _polygon(number: int, geom: BaseGeometry, epsg: int) -> tuple[MultiPolygon | None, str | None]:
    """The feature as a valid MultiPolygon in EPSG:27700, or the reason it cannot be one."""
    if isinstance(geom, Polygon):
        geom = MultiPolygon([geom])
    if not isinstance(geom, MultiPolygon) or geom.is_empty:
        return (
            None,
            f"feature {number}: geometry is {geom.geom_type}, expected Polygon or MultiPolygon",
        )
    minx, miny, maxx, maxy = geom.bounds
    bounds = UK_LONLAT_BOUNDS if epsg == 4326 else BNG_BOUNDS
    if not (bounds[0] <= minx and maxx <= bounds[2] and bounds[1] <= miny and maxy <= bounds[3]):
        return None, (
            f"feature {number}: coordinates outside Great Britain for EPSG:{epsg} (wrong CRS?)"
        )
    # The reason in the file's own coordinates, where the user can find the spot.
    reason = None if geom.is_valid else shapely.is_valid_reason(geom)
    if epsg == 4326:
        geom = shapely.transform(geom, lambda xy: np.column_stack(wgs84_to_bng(xy[:, 0], xy[:, 1])))
    if not geom.is_valid:
        reason = reason or shapely.is_valid_reason(geom)
        fixed = _repair(geom)
        if fixed is None:
            return None, f"feature {number}: invalid polygon ({reason}) that cannot be repaired"
        geom = fixed
    return geom, None


def read_footprint_file(
    path: Path, *, code_field: str | None = None, name_field: str | None = None
) -> ParsedFootprints:
    """Read an uploaded ``.geojson``/``.json`` or ``.gpkg`` file of footprint polygons."""
    require_file(path)
    suffix = path.suffix.lower()
    if suffix in (".geojson", ".json"):
        props, geoms, epsg, rejects = _geojson(path)
    elif suffix in (".gpkg", ".geopackage"):
        props, geoms, epsg, rejects = _geopackage(path)
    else:
        raise LoadError(path, f"unsupported file type {suffix!r}: upload .geojson or .gpkg")
    if len(geoms) > MAX_FEATURES:
        raise LoadError(path, f"{len(geoms)} features: at most {MAX_FEATURES} per upload")
    keys = list(dict.fromkeys(k for p in props for k in p))
    code_key = _pick(keys, code_field, ("code", "id"), _CODE_SUFFIX)
    name_key = _pick(keys, name_field, ("name",), _NAME_SUFFIX)
    for wanted, key in (("code_field", code_field), ("name_field", name_field)):
        if key is not None and key not in keys:
            raise LoadError(
                path,
                f"{wanted} {key!r} is not a property of the features; they have "
                + (", ".join(repr(k) for k in keys) or "no properties"),
            )
    polygons: list[UploadedPolygon] = []
    seen: dict[str, int] = {}
    repaired = 0
    for number, (p, geom) in enumerate(zip(props, geoms, strict=True), start=1):
        if geom is None:
            continue
        raw_code = p.get(code_key) if code_key else number
        code = "" if raw_code is None else str(raw_code).strip()
        if not code:
            rejects.append(Reject(number, f"feature {number}: property {code_key!r} is empty"))
            continue
        if code in seen:
            rejects.append(
                Reject(number, f"feature {number}: code {code!r} repeats feature {seen[code]}")
            )
            continue
        polygon, problem = _polygon(number, geom, epsg)
        if polygon is None:
            rejects.append(Reject(number, problem or f"feature {number}: unusable geometry"))
            continue
        repaired += int(not geom.is_valid)
        seen[code] = number
        raw_name = p.get(name_key) if name_key else None
        name = None if raw_name is None or str(raw_name).strip() == "" else str(raw_name).strip()
        polygons.append(UploadedPolygon(number, code, name, polygon))
    notes = [f"{repaired} invalid polygons repaired"] if repaired else []
    if code_key is None:
        notes.append("no code property found: features are numbered 1, 2, ... in file order")
    return ParsedFootprints(
        polygons=polygons,
        rejects=sorted(rejects, key=lambda r: r.row or 0),
        notes=notes,
        code_field=code_key,
        name_field=name_key,
    )
