"""Custom footprint uploads: an organisation's polygons (GeoJSON or GeoPackage), validated
feature by feature and stored in one transaction, or refused with every reason and nothing
stored.

The file is read by :mod:`etl.readers.footprints` (the one reader of the format); a file with
any rejected feature is refused as a whole (:class:`etl.loading.LoadError`), so a set is never
stored half. The stored set belongs to the uploader's organisation and is ``restricted`` as
asked: :func:`store.access.visible_rows` decides who sees it, as for every other
organisation's row. A new upload with the name of one of the organisation's sets replaces it.
The response notes polygons that hold no LSOA's representative point (they will count
nobody) and polygons that overlap (LSOAs in both count in the first).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import shapely

from etl.loading import LoadError, sha256_of
from etl.readers.footprints import UploadedPolygon, read_footprint_file
from store import footprints as store
from store.areas import area_points
from store.connection import Database

__all__ = ["MAX_NOTED", "delete_footprints", "upload_footprints"]

#: Polygons listed by name in a note before "and N more".
MAX_NOTED = 10


def _listed(items: list[str]) -> str:
    more = len(items) - MAX_NOTED
    return ", ".join(items[:MAX_NOTED]) + (f" and {more} more" if more > 0 else "")


def _coverage_notes(polygons: list[UploadedPolygon], points: Any) -> list[str]:
    """Polygons holding no LSOA 2021 representative point, and pairs of polygons that overlap."""
    geoms = np.array([p.geom for p in polygons], dtype=object)
    notes: list[str] = []
    if len(points):
        tree = shapely.STRtree(points)
        hits = tree.query(geoms, predicate="intersects")
        holding = {int(i) for i in hits[0]}
        empty = [p.code for i, p in enumerate(polygons) if i not in holding]
        if empty:
            notes.append(
                f"{len(empty)} polygons hold no loaded LSOA's representative point and will "
                f"count nobody: {_listed(empty)}"
            )
    tree = shapely.STRtree(geoms)
    left, right = tree.query(geoms, predicate="overlaps")
    pairs = [
        (int(a), int(b))
        for a, b in zip(left, right, strict=True)
        if a < b and shapely.area(shapely.intersection(geoms[a], geoms[b])) > 1.0
    ]
    if pairs:
        notes.append(
            f"{len(pairs)} pairs of polygons overlap; an LSOA in both counts in the earlier "
            "feature: " + _listed([f"{polygons[a].code} / {polygons[b].code}" for a, b in pairs])
        )
    return notes


def upload_footprints(
    db: Database,
    path: Path,
    *,
    name: str,
    organisation: str,
    restricted: bool,
    display_name: str,
    code_field: str | None = None,
    name_field: str | None = None,
) -> dict[str, Any]:
    """Validate and store ``path`` as the organisation's footprint set ``name``.

    Raises
    ------
    LoadError
        A bad file or any rejected feature (every reason listed); nothing is stored.
    """
    parsed = read_footprint_file(path, code_field=code_field, name_field=name_field)
    if parsed.rejects:
        raise LoadError(display_name, parsed.rejects)
    if not parsed.polygons:
        raise LoadError(display_name, "no usable polygons")
    with db.connection() as conn:
        pts = area_points(conn)
    pts = pts[pts["vintage"] == 2021]
    points = np.asarray(shapely.points(pts[["x", "y"]].to_numpy(dtype=float)), dtype=object)
    notes = parsed.notes + _coverage_notes(parsed.polygons, points)
    with db.transaction() as conn:
        set_id, replaced = store.replace_footprint_set(
            conn,
            name=name,
            organisation=organisation,
            restricted=restricted,
            file_name=display_name,
            sha256=sha256_of(path),
            notes="; ".join(notes) or None,
            polygons=[
                store.FootprintPolygon(p.feature, p.code, p.name, p.geom) for p in parsed.polygons
            ],
        )
    return {
        "id": set_id,
        "footprint": f"custom-{set_id}",
        "name": name,
        "organisation": organisation,
        "restricted": restricted,
        "file_name": display_name,
        "features": len(parsed.polygons),
        "code_field": parsed.code_field,
        "name_field": parsed.name_field,
        "replaced": replaced,
        "notes": notes,
    }


def delete_footprints(db: Database, *, set_id: int, organisation: str) -> bool:
    """Delete the organisation's set ``set_id`` (polygons with it); False when it has none."""
    with db.transaction() as conn:
        return store.delete_footprint_set(conn, set_id=set_id, organisation=organisation)
