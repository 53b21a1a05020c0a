"""OpenStreetMap health points (via :func:`etl.osm.read_osm`) → ``sites`` with source ``osm``.

These are also the targets the ERIC reader matches site names against.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from etl.loading import ODBL, LoadError, ParsedFile, Region
from etl.osm import OsmReadError, read_osm
from etl.readers.common import Progress, filter_sites, report, require_file, sites_frame


def _kind(amenity: object, healthcare: object, building: object) -> str:
    for value in (amenity, healthcare):
        if isinstance(value, str) and value:
            return value
    if building == "hospital":
        return "hospital_building"
    return "healthcare"


def read_osm_health(path: Path, region: Region, progress: Progress | None = None) -> ParsedFile:
    """Health and amenity points of an OSM extract (EPSG:27700) as sites."""
    require_file(path)
    try:
        health = read_osm(path).health
    except OsmReadError as exc:
        raise LoadError(path, str(exc).removeprefix(f"{path.name}: ")) from exc
    report(progress, len(health), len(health))
    kinds = [
        _kind(a, h, b)
        for a, h, b in zip(
            health.get("amenity", pd.Series(None, index=health.index)),
            health.get("healthcare", pd.Series(None, index=health.index)),
            health.get("building", pd.Series(None, index=health.index)),
            strict=True,
        )
    ]
    names = [
        n if isinstance(n, str) and n.strip() else f"(unnamed {k.replace('_', ' ')})"
        for n, k in zip(health["name"], kinds, strict=True)
    ]
    frame = sites_frame(
        pd.DataFrame(
            {
                "_row": np.arange(1, len(health) + 1),
                "source": "osm",
                "source_id": [
                    f"{t[0]}{i}" for t, i in zip(health["osm_type"], health["osm_id"], strict=True)
                ],
                "name": names,
                "kind": kinds,
                "located_by": "osm",
                "attributes": [
                    {k: v for k, v in (("amenity", a), ("healthcare", h)) if isinstance(v, str)}
                    for a, h in zip(health["amenity"], health["healthcare"], strict=True)
                ],
                "geom": np.asarray(health.geometry.to_numpy(), dtype=object),
            }
        )
    )
    frame, rejects, notes = filter_sites(frame, region, national=True)
    return ParsedFile(
        dataset="osm-health",
        path=path,
        licence=ODBL,
        tables={"sites": frame.reset_index(drop=True)},
        rows_read=len(health),
        rejects=rejects,
        notes=notes,
    )
