"""A projection request from uploaded files: a growth-rate CSV and/or housing sites.

The files are read by :mod:`etl.readers.planning` (which owns their formats); every bad row
of every file is collected and the upload refused as a whole (:class:`UploadRejected`, each
reject naming its file, row and reason), so nothing is stored. Good files become the same
:class:`~app.schemas.planning.ProjectionRequest` a JSON body gives — growth rates as
``growth.rates``, sites as ``housing`` (points as ``x, y`` in EPSG:27700, polygons as WGS84
GeoJSON) — so the saved definition can be re-run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import shapely
from pydantic import ValidationError

from app.schemas.planning import ProjectionRequest
from etl.loading import LoadError, Reject
from etl.readers.planning import read_growth_rates, read_housing_sites
from spatial.crs import bng_to_wgs84

__all__ = ["UploadRejected", "request_from_uploads"]


class UploadRejected(Exception):
    """Rejected rows of the uploaded files: ``rejects`` (``file, field, row, reason``; row 0
    is the file as a whole) and the form field at fault first (``parameter``)."""

    def __init__(self, rejects: list[dict[str, Any]], parameter: str) -> None:
        self.rejects = rejects
        self.parameter = parameter
        super().__init__("; ".join(f"{r['file']} row {r['row']}: {r['reason']}" for r in rejects))


def _rejects(field: str, name: str, rejects: list[Reject]) -> list[dict[str, Any]]:
    # Row 0: the file as a whole (a missing column, an unreadable file).
    return [{"file": name, "field": field, "row": r.row or 0, "reason": r.reason} for r in rejects]


def _rates(frame: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for r in frame.to_dict(orient="records"):
        upper = r["age_upper"]
        lower = int(r["age_lower"])
        band = f"{lower}+" if pd.isna(upper) else f"{lower}-{int(upper)}"
        out.append(
            {
                "age_band": "all" if band == "0+" else band,
                "year": None if pd.isna(r["year"]) else int(r["year"]),
                "area_code": r["area_code"],
                "rate": float(r["rate"]),
            }
        )
    return out


def _wgs84(geom: Any) -> dict[str, Any]:
    def to_wgs84(coords: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        lon, lat = bng_to_wgs84(coords[:, 0], coords[:, 1])
        return np.round(np.column_stack([lon, lat]), 8)

    mapped = shapely.geometry.mapping(shapely.transform(geom, to_wgs84))
    # Tuples of coordinates as JSON lists (the definition is stored as JSON).
    plain: dict[str, Any] = json.loads(json.dumps(mapped))
    return plain


def _sites(sites: pd.DataFrame, completions: pd.DataFrame) -> list[dict[str, Any]]:
    by_site = {
        str(s): {int(y): float(n) for y, n in g[["year", "dwellings"]].itertuples(index=False)}
        for s, g in completions.groupby("site_id")
    }
    out = []
    for s in sites.to_dict(orient="records"):
        geom = s["geometry"]
        site: dict[str, Any] = {"site_id": str(s["site_id"]), "name": str(s["name"] or "")}
        if geom.geom_type == "Point":
            site.update(x=round(float(geom.x), 3), y=round(float(geom.y), 3))
        else:
            site["geometry"] = _wgs84(geom)
        ppd = s["persons_per_dwelling"]
        if not pd.isna(ppd):
            site["persons_per_dwelling"] = float(ppd)
        profile = s.get("age_profile")
        if isinstance(profile, dict):
            site["age_profile"] = profile
        site["dwellings"] = by_site.get(str(s["site_id"]), {})
        out.append(site)
    return out


def request_from_uploads(
    definition: str,
    *,
    growth_file: tuple[Path, str] | None = None,
    housing_file: tuple[Path, str] | None = None,
) -> ProjectionRequest:
    """The :class:`ProjectionRequest` of ``definition`` (JSON text) with the uploads in it.

    ``growth_file`` and ``housing_file`` are (path on disk, name as uploaded).

    Raises
    ------
    UploadRejected
        Listing every rejected row of every file.
    ValueError
        ``definition`` is not a JSON object, or gives what a file also gives.
    ValidationError
        The combined request is invalid (pydantic's, naming the member).
    """
    try:
        body = json.loads(definition)
    except json.JSONDecodeError as exc:
        raise ValueError(f"definition: not JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(body, dict):
        raise ValueError("definition: must be a JSON object")
    rejects: list[dict[str, Any]] = []
    rates: list[dict[str, Any]] | None = None
    sites: list[dict[str, Any]] | None = None
    if growth_file is not None:
        path, name = growth_file
        try:
            frame, bad = read_growth_rates(path)
        except LoadError as exc:
            frame, bad = pd.DataFrame(), exc.rejects
        rejects += _rejects("growth_file", name, bad)
        if not bad:
            if len(frame) == 0:
                rejects += _rejects("growth_file", name, [Reject(None, "no growth rates")])
            rates = _rates(frame)
    if housing_file is not None:
        path, name = housing_file
        try:
            upload = read_housing_sites(path)
            bad = upload.rejects
        except LoadError as exc:
            upload, bad = None, exc.rejects
        rejects += _rejects("housing_file", name, bad)
        if upload is not None and not bad:
            if upload.sites.empty:
                rejects += _rejects("housing_file", name, [Reject(None, "no sites")])
            sites = _sites(upload.sites, upload.completions)
    if rejects:
        raise UploadRejected(rejects, str(rejects[0]["field"]))
    if rates is not None:
        if (body.get("growth") or {}).get("type", "none") != "none":
            raise ValueError("definition.growth: the growth rates come from growth_file")
        body["growth"] = {"type": "rates", "rates": rates}
    if sites is not None:
        if body.get("housing"):
            raise ValueError("definition.housing: the sites come from housing_file")
        body["housing"] = sites
    return ProjectionRequest.model_validate(body)


def validation_problem(exc: ValidationError) -> tuple[str, str]:
    """(parameter, message) of the first error of a request built from uploads."""
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ()))
    return "definition", f"definition.{where}: {first.get('msg', 'invalid')}"
