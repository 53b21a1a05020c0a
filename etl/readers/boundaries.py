"""LSOA / MSOA boundary GeoJSON (ONS Open Geography portal layout, or ``area_code``/``area_name``
as Trafford publishes) → ``areas`` rows in EPSG:27700 with a representative point.

Parsed with :mod:`json` and :func:`shapely.geometry.shape` rather than GDAL so a cut-off file
gives a precise "line/column" error and each feature keeps its number for reject messages.
"""

from __future__ import annotations

import json
import re
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import shapely
from shapely.geometry import MultiPolygon, Polygon, shape

from etl.loading import OGL, OS_ATTRIBUTION, LoadError, ParsedFile, Region, Reject
from etl.readers.common import (
    BNG_BOUNDS,
    LSOA_RE,
    MSOA_RE,
    UK_LONLAT_BOUNDS,
    Progress,
    describe_error,
    report,
    require_file,
)
from etl.readers.limits import check_rows, read_content
from spatial.crs import wgs84_to_bng

_WGS84_NAMES = {
    "urn:ogc:def:crs:OGC:1.3:CRS84",
    "urn:ogc:def:crs:OGC::CRS84",
    "urn:ogc:def:crs:EPSG::4326",
    "EPSG:4326",
}
_BNG_NAMES = {"urn:ogc:def:crs:EPSG::27700", "EPSG:27700"}
_LAD_KEY = re.compile(r"^LAD\d{2}CD$")


def _crs_of(path: Path, doc: dict[str, Any]) -> int:
    crs = doc.get("crs")
    if crs is None:
        return 4326  # RFC 7946: GeoJSON without a crs member is WGS84
    props = crs.get("properties") if isinstance(crs, dict) else None
    if not isinstance(props, dict):
        raise LoadError(path, 'the "crs" member has no "properties" object naming the CRS')
    name = str(props.get("name", ""))
    if name in _WGS84_NAMES:
        return 4326
    if name in _BNG_NAMES:
        return 27700
    raise LoadError(path, f"unsupported CRS {name!r}: expected WGS84 (CRS84) or EPSG:27700")


def _load_json(path: Path) -> dict[str, Any]:
    require_file(path)
    try:
        doc = json.loads(read_content(path))
    except json.JSONDecodeError as exc:
        raise LoadError(
            path,
            f"not valid GeoJSON (cut off or corrupted?): {exc.msg} at line {exc.lineno} "
            f"column {exc.colno}",
        ) from exc
    except RecursionError as exc:
        raise LoadError(path, "not valid GeoJSON: arrays or objects nested too deeply") from exc
    except (OSError, EOFError, zlib.error, UnicodeDecodeError) as exc:
        raise LoadError(path, describe_error(exc)) from exc
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
        raise LoadError(path, "not a GeoJSON FeatureCollection")
    if not isinstance(doc.get("features"), list) or not doc["features"]:
        raise LoadError(path, "the FeatureCollection has no features")
    check_rows(path, len(doc["features"]), "features")
    return doc


def _properties(feature: Any) -> dict[str, Any] | None:
    """A feature's properties (``{}`` when null); None when it is not a Feature object."""
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        return None
    props = feature.get("properties")
    return props if isinstance(props, dict) else {} if props is None else None


def _geometry(feature: dict[str, Any]) -> tuple[Any, str | None]:
    """The feature's shapely geometry, or None and why not."""
    raw = feature.get("geometry")
    if raw is None:
        return None, "geometry is null"
    if not isinstance(raw, dict):
        return None, "geometry is not a GeoJSON geometry object"
    try:
        with np.errstate(invalid="ignore", over="ignore"):  # NaN/inf: refused just below
            geom = shape(raw)
    except (ValueError, TypeError, AttributeError, KeyError, IndexError) as exc:
        return None, f"bad geometry ({exc})"
    if geom.is_empty:
        return None, f"geometry is an empty {geom.geom_type}"
    if not np.isfinite(shapely.get_coordinates(geom)).all():
        return None, "coordinates are not finite numbers (NaN or Infinity)"
    return geom, None


def _keys(path: Path, props: dict[str, Any], level: str, vintage: int) -> tuple[str, str | None]:
    yy = str(vintage)[2:]
    code_key = f"{level.upper()}{yy}CD"
    for code, name in ((code_key, f"{level.upper()}{yy}NM"), ("area_code", "area_name")):
        if code in props:
            return code, name if name in props else None
    raise LoadError(
        path,
        f"missing property {code_key!r} (or 'area_code') for {level.upper()} {vintage} codes; "
        f"the features have {', '.join(repr(k) for k in props)}",
    )


def _to_bng(geom: Any) -> Any:
    return shapely.transform(geom, lambda xy: np.column_stack(wgs84_to_bng(xy[:, 0], xy[:, 1])))


def _repair(geom: Any) -> MultiPolygon | None:
    """``make_valid`` keeping the polygonal parts; None when that changes the area by > 0.1 %
    (a real error in the data rather than a generalisation artefact)."""
    if isinstance(geom, MultiPolygon) and all(p.is_valid for p in geom.geoms):
        # Valid parts that overlap or nest (e.g. an island drawn inside another part): the
        # area is their union; make_valid would treat the overlap as a hole instead.
        union = shapely.union_all(list(geom.geoms))
        if union.is_valid and isinstance(union, Polygon | MultiPolygon):
            return union if isinstance(union, MultiPolygon) else MultiPolygon([union])
    fixed = shapely.make_valid(geom)
    parts = [g for g in shapely.get_parts(fixed) if isinstance(g, Polygon | MultiPolygon)]
    polys = [p for g in parts for p in (g.geoms if isinstance(g, MultiPolygon) else [g])]
    if not polys:
        return None
    result = MultiPolygon(polys)
    if not result.is_valid or abs(result.area - geom.area) > 0.001 * max(geom.area, 1.0):
        return None
    return result


def read_boundaries(
    path: Path,
    region: Region,
    progress: Progress | None = None,
    *,
    dataset: str,
    level: str,
    vintage: int,
) -> ParsedFile:
    """Read a boundary GeoJSON into an ``areas`` frame (EPSG:27700).

    A regional file: with a region, features of another local authority (by their LAD
    property) or outside the region's current outline are rejected with their feature number.
    """
    doc = _load_json(path)
    epsg = _crs_of(path, doc)
    features = doc["features"]
    first_props = next((p for f in features if (p := _properties(f))), {})
    code_key, name_key = _keys(path, first_props, level, vintage)
    lad_key = "LADCD_ACTIVE" if "LADCD_ACTIVE" in first_props else None
    if lad_key is None:
        lad_key = next((k for k in first_props if _LAD_KEY.match(k)), None)
    pattern = LSOA_RE if level == "lsoa" else MSOA_RE
    rejects: list[Reject] = []
    rows: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    repaired: list[str] = []
    for number, feature in enumerate(features, start=1):
        props = _properties(feature)
        if props is None:
            rejects.append(
                Reject(number, f"feature {number}: not a GeoJSON Feature with properties")
            )
            continue
        code = str(props.get(code_key) or "").strip()
        if not pattern.match(code):
            rejects.append(
                Reject(
                    number, f"feature {number}: {code_key} {code!r} is not a {level.upper()} code"
                )
            )
            continue
        if code in seen:
            rejects.append(
                Reject(number, f"feature {number}: {code_key} {code} repeats feature {seen[code]}")
            )
            continue
        seen[code] = number
        geom, problem = _geometry(feature)
        if problem is not None:
            rejects.append(Reject(number, f"feature {number} ({code}): {problem}"))
            continue
        if isinstance(geom, Polygon):
            geom = MultiPolygon([geom])
        if not isinstance(geom, MultiPolygon):
            rejects.append(
                Reject(
                    number,
                    f"feature {number} ({code}): geometry is {geom.geom_type}, "
                    "expected Polygon or MultiPolygon",
                )
            )
            continue
        minx, miny, maxx, maxy = geom.bounds
        bounds = UK_LONLAT_BOUNDS if epsg == 4326 else BNG_BOUNDS
        if not (
            bounds[0] <= minx and maxx <= bounds[2] and bounds[1] <= miny and maxy <= bounds[3]
        ):
            rejects.append(
                Reject(
                    number,
                    f"feature {number} ({code}): coordinates outside Great Britain "
                    f"for EPSG:{epsg} (wrong CRS?)",
                )
            )
            continue
        if epsg == 4326:
            geom = _to_bng(geom)
        if not geom.is_valid:
            fixed = _repair(geom)
            if fixed is None:
                rejects.append(
                    Reject(
                        number,
                        f"feature {number} ({code}): invalid geometry "
                        f"({shapely.is_valid_reason(geom)}) that cannot be repaired",
                    )
                )
                continue
            repaired.append(f"{code} ({shapely.is_valid_reason(geom)})")
            geom = fixed
        lad = str(props.get(lad_key) or "").strip() if lad_key else ""
        rows.append(
            {
                "_row": number,
                "code": code,
                "name": str(props.get(name_key) or "") or None if name_key else None,
                "level": level,
                "vintage": vintage,
                "lad_code": lad or region.lad_code,
                "geom": geom,
                "rep_point": shapely.point_on_surface(geom),
            }
        )
        if number % 500 == 0:
            report(progress, number, len(features))
    report(progress, len(features), len(features))
    frame = pd.DataFrame(rows)
    if region.key and len(frame):
        if region.lad_code:
            other = frame["lad_code"] != region.lad_code
            for r, c, lad in frame.loc[other, ["_row", "code", "lad_code"]].itertuples(index=False):
                rejects.append(
                    Reject(
                        int(r),
                        f"feature {r} ({c}): in local authority {lad}, not in region {region.key}",
                    )
                )
            frame = frame[~other]
        if region.polygon is not None and len(frame):
            inside = region.contains(frame["rep_point"].to_numpy())
            for r, c in frame.loc[~inside, ["_row", "code"]].itertuples(index=False):
                rejects.append(
                    Reject(int(r), f"feature {r} ({c}): geometry lies outside region {region.key}")
                )
            frame = frame[inside]
    rejects.sort(key=lambda r: r.row or 0)
    return ParsedFile(
        dataset=dataset,
        path=path,
        licence=f"{OGL}; Source: Office for National Statistics; {OS_ATTRIBUTION}",
        tables={"areas": frame.reset_index(drop=True)},
        rows_read=len(features),
        rejects=rejects,
        vintage=str(vintage),
        notes=[f"{len(repaired)} invalid geometries repaired: {', '.join(repaired)}"]
        if repaired
        else [],
    )
