"""Planning uploads: growth rates (CSV) and housing development sites (CSV or GeoJSON).

These files are read into tables for a population projection, not loaded into the database
on their own, but they are checked the way every load is: each bad row is a
:class:`~etl.loading.Reject` with its row (the CSV line; the GeoJSON feature number) and the
reason, and the caller refuses the whole upload when there is any, so nothing is stored.

Growth rates CSV
    ``age_band`` ("0-15", "65+", "7" or "all"), ``rate`` (a fraction a year, -0.5 to 0.5:
    0.012 is +1.2 %), optional ``year`` (blank: every year) and ``area_code`` (an LSOA;
    blank: every area). One rate per (area, band, year).

Housing sites CSV (one row per site and completion year)
    ``site_id``, ``year``, ``dwellings`` (completed that year, >= 0), a position as
    ``easting, northing`` (EPSG:27700 metres) or ``lon, lat`` (WGS84 degrees) — the same on
    every row of a site — and optionally ``name`` and ``persons_per_dwelling`` (blank: the
    projection's default).

Housing sites GeoJSON
    A FeatureCollection (WGS84 as RFC 7946 says, or a ``crs`` member naming EPSG:27700) of
    Point, Polygon or MultiPolygon features with properties ``site_id``, ``dwellings`` (an
    object of year → dwellings, e.g. ``{"2026": 40, "2027": 60}``, or a number with a
    ``year`` property), optionally ``name``, ``persons_per_dwelling`` and ``age_profile``
    (age band → share of new residents, e.g. ``{"0-15": 0.3, "16-64": 0.6, "65+": 0.1}``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import shapely
from shapely.geometry import shape

from etl.loading import LoadError, Reject
from etl.readers.boundaries import _crs_of, _load_json
from etl.readers.common import (
    BNG_BOUNDS,
    LSOA_RE,
    UK_LONLAT_BOUNDS,
    bad_bng,
    bad_lonlat,
    lonlat_points,
    read_csv,
    require_columns,
    to_number,
)
from spatial.crs import wgs84_to_bng
from spatial.projection import parse_age_band

__all__ = [
    "MAX_RATE",
    "HousingUpload",
    "read_growth_rates",
    "read_housing_sites",
]

#: Largest annual growth (and decline) a rate may state: 0.5 = ±50 % a year.
MAX_RATE = 0.5
YEARS = (1900, 2150)
MAX_ROWS = 200_000


def _year_rejects(
    frame: pd.DataFrame, column: str, years: pd.Series, blank_ok: bool
) -> list[Reject]:
    raw = frame[column].astype(str).str.strip()
    whole = years.notna() & (years == years.round())
    inside = years.between(*YEARS)
    bad = ~(whole & inside) & ~(blank_ok & (raw == ""))
    return [
        Reject(int(r), f"column {column!r}: {v!r} is not a year ({YEARS[0]}-{YEARS[1]})")
        for r, v in zip(frame.loc[bad, "_row"], raw[bad], strict=True)
    ]


def read_growth_rates(path: Path) -> tuple[pd.DataFrame, list[Reject]]:
    """Growth rates from a CSV (see the module docstring).

    Returns
    -------
    (pandas.DataFrame, list of Reject)
        ``_row, area_code`` (None: every area), ``age_lower, age_upper`` (NaN: open),
        ``year`` (NaN: every year), ``rate``; and every rejected row with its reason.
    """
    raw = read_csv(path)
    if len(raw) > MAX_ROWS:
        raise LoadError(path, f"{len(raw)} rows: at most {MAX_ROWS} growth rates per upload")
    raw.columns = ["_row", *[str(c).strip().lower() for c in raw.columns[1:]]]
    require_columns(path, raw, ["age_band", "rate"])
    rejects: list[Reject] = []
    bands: list[tuple[int, int | None] | None] = []
    for row, label in zip(raw["_row"], raw["age_band"], strict=True):
        try:
            bands.append(parse_age_band(label))
        except ValueError as exc:
            rejects.append(Reject(int(row), f"column 'age_band': {exc}"))
            bands.append(None)
    rate = to_number(raw["rate"])
    text = raw["rate"].astype(str).str.strip()
    for row, value, number in zip(raw["_row"], text, rate, strict=True):
        if np.isnan(number):
            rejects.append(Reject(int(row), f"column 'rate': {value!r} is not a number"))
        elif abs(number) > MAX_RATE:
            rejects.append(
                Reject(
                    int(row),
                    f"column 'rate': {value} is {number:+.0%} a year; give a fraction between "
                    f"-{MAX_RATE} and {MAX_RATE} (0.012 for +1.2 %)",
                )
            )
    year = pd.Series(np.nan, index=raw.index)
    if "year" in raw.columns:
        year = to_number(raw["year"])
        rejects += _year_rejects(raw, "year", year, blank_ok=True)
    area = pd.Series("", index=raw.index)
    if "area_code" in raw.columns:
        area = raw["area_code"].astype(str).str.strip().str.upper()
        bad = (area != "") & ~area.str.match(LSOA_RE)
        rejects += [
            Reject(int(r), f"column 'area_code': {v!r} is not an LSOA code (E01...)")
            for r, v in zip(raw.loc[bad, "_row"], area[bad], strict=True)
        ]
    frame = pd.DataFrame(
        {
            "_row": raw["_row"].astype(int),
            "area_code": pd.Series([a or None for a in area], index=raw.index, dtype=object),
            "age_lower": [b[0] if b else np.nan for b in bands],
            "age_upper": [np.nan if b is None or b[1] is None else float(b[1]) for b in bands],
            "year": year,
            "rate": rate,
        }
    )
    bad_rows = {r.row for r in rejects}
    frame = frame[~frame["_row"].isin(bad_rows)]
    key = (
        frame["area_code"].fillna("*")
        + "|"
        + frame["age_lower"].astype(int).astype(str)
        + "-"
        + frame["age_upper"].fillna(-1).astype(int).astype(str)
        + "|"
        + frame["year"].fillna(-1).astype(int).astype(str)
    )
    first = pd.Series(frame["_row"].to_numpy(), index=key.to_numpy())
    first = first[~first.index.duplicated()]
    for row, k in zip(frame.loc[key.duplicated(), "_row"], key[key.duplicated()], strict=True):
        rejects.append(Reject(int(row), f"the same area, age band and year as row {int(first[k])}"))
    frame = frame[~key.duplicated()]
    return frame.reset_index(drop=True), sorted(rejects, key=lambda r: r.row or 0)


@dataclass
class HousingUpload:
    """Development sites read from a file.

    ``sites``: ``_row, site_id, name, geometry`` (shapely, EPSG:27700),
    ``persons_per_dwelling`` (NaN: the projection's default) and, from GeoJSON,
    ``age_profile`` (None: the projection's default); ``completions``: ``site_id,
    year, dwellings``; ``rejects``: every bad row with its reason.
    """

    sites: pd.DataFrame
    completions: pd.DataFrame
    rejects: list[Reject]


def read_housing_sites(path: Path) -> HousingUpload:
    """Housing development sites from a CSV or GeoJSON file (see the module docstring)."""
    suffix = path.suffix.lower()
    if suffix in (".geojson", ".json"):
        return _housing_geojson(path)
    if suffix == ".csv":
        return _housing_csv(path)
    raise LoadError(path, "housing sites: upload a .csv or .geojson file")


def _ppd_rejects(rows: Any, values: pd.Series, raw: pd.Series) -> list[Reject]:
    text = raw.astype(str).str.strip()
    bad = (text != "") & (values.isna() | (values <= 0) | (values > 20))
    return [
        Reject(int(r), f"column 'persons_per_dwelling': {v!r} is not a number above 0 (<= 20)")
        for r, v in zip(rows[bad], text[bad], strict=True)
    ]


def _housing_csv(path: Path) -> HousingUpload:
    raw = read_csv(path)
    if len(raw) > MAX_ROWS:
        raise LoadError(path, f"{len(raw)} rows: at most {MAX_ROWS} per upload")
    raw.columns = ["_row", *[str(c).strip().lower() for c in raw.columns[1:]]]
    require_columns(path, raw, ["site_id", "year", "dwellings"])
    has_xy = {"easting", "northing"} <= set(raw.columns)
    has_lonlat = {"lon", "lat"} <= set(raw.columns)
    if not (has_xy or has_lonlat):
        raise LoadError(path, "give each site's position as columns easting, northing or lon, lat")
    rows = raw["_row"].astype(int)
    rejects: list[Reject] = []
    site = raw["site_id"].astype(str).str.strip()
    rejects += [Reject(int(r), "column 'site_id' is empty") for r in rows[site == ""]]
    year = to_number(raw["year"])
    rejects += _year_rejects(raw, "year", year, blank_ok=False)
    dwellings = to_number(raw["dwellings"])
    text = raw["dwellings"].astype(str).str.strip()
    bad = dwellings.isna() | (dwellings < 0)
    rejects += [
        Reject(int(r), f"column 'dwellings': {v!r} is not a number >= 0")
        for r, v in zip(rows[bad], text[bad], strict=True)
    ]
    geoms = np.full(len(raw), None, dtype=object)
    if has_xy:
        e, n = to_number(raw["easting"]), to_number(raw["northing"])
        given = (raw["easting"].str.strip() != "") | (raw["northing"].str.strip() != "")
        badxy = given & (e.isna() | n.isna() | bad_bng(e.fillna(-1), n.fillna(-1)))
        rejects += [
            Reject(int(r), "columns 'easting'/'northing': not a position in Great Britain")
            for r in rows[badxy]
        ]
        ok = (given & ~badxy).to_numpy()
        geoms[ok] = shapely.points(np.column_stack([e[ok], n[ok]]))
    if has_lonlat:
        lon, lat = to_number(raw["lon"]), to_number(raw["lat"])
        given = (raw["lon"].str.strip() != "") | (raw["lat"].str.strip() != "")
        badll = given & (lon.isna() | lat.isna() | bad_lonlat(raw, lon, lat))
        rejects += [
            Reject(int(r), "columns 'lon'/'lat': not a WGS84 position in the UK")
            for r in rows[badll]
        ]
        ok = (given & ~badll).to_numpy()
        both = ok & np.array([g is not None for g in geoms])
        rejects += [
            Reject(int(r), "give easting/northing or lon/lat, not both") for r in rows[both]
        ]
        geoms[ok & ~both] = lonlat_points(lon[ok & ~both], lat[ok & ~both])
    missing = np.array([g is None for g in geoms]) & ~rows.isin({r.row for r in rejects})
    rejects += [Reject(int(r), "no position (easting/northing or lon/lat)") for r in rows[missing]]
    ppd = pd.Series(np.nan, index=raw.index)
    if "persons_per_dwelling" in raw.columns:
        ppd = to_number(raw["persons_per_dwelling"])
        rejects += _ppd_rejects(rows, ppd, raw["persons_per_dwelling"])
    names = raw["name"].astype(str).str.strip() if "name" in raw.columns else site
    bad_rows = {r.row for r in rejects}
    keep = ~rows.isin(bad_rows)
    frame = pd.DataFrame(
        {
            "_row": rows,
            "site_id": site,
            "name": names,
            "geometry": geoms,
            "persons_per_dwelling": ppd,
            "year": year,
            "dwellings": dwellings,
        }
    )[keep.to_numpy()]
    sites_rows: list[dict[str, Any]] = []
    seen: dict[str, dict[str, Any]] = {}
    for record in frame.to_dict(orient="records"):
        rec = {str(k): v for k, v in record.items()}
        first = seen.get(rec["site_id"])
        if first is None:
            seen[rec["site_id"]] = rec
            sites_rows.append(rec)
            continue
        if not first["geometry"].equals_exact(rec["geometry"], 0.5):
            rejects.append(
                Reject(
                    int(rec["_row"]),
                    f"site {rec['site_id']!r}: a position other than row {first['_row']}'s",
                )
            )
        same_ppd = (
            np.isnan(first["persons_per_dwelling"]) and np.isnan(rec["persons_per_dwelling"])
        ) or (first["persons_per_dwelling"] == rec["persons_per_dwelling"])
        if not same_ppd:
            rejects.append(
                Reject(
                    int(rec["_row"]),
                    f"site {rec['site_id']!r}: persons_per_dwelling other than row "
                    f"{first['_row']}'s",
                )
            )
    sites = pd.DataFrame(
        sites_rows, columns=["_row", "site_id", "name", "geometry", "persons_per_dwelling"]
    )
    completions = frame[["site_id", "year", "dwellings"]].astype({"year": "int64"})
    return HousingUpload(
        sites.reset_index(drop=True),
        completions.reset_index(drop=True),
        sorted(rejects, key=lambda r: r.row or 0),
    )


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if np.isfinite(out) else None


def _feature_dwellings(props: dict[str, Any], problems: list[str]) -> dict[int, float]:
    value = props.get("dwellings")
    pairs: list[tuple[Any, Any]]
    if isinstance(value, dict):
        pairs = list(value.items())
    elif "year" in props:
        pairs = [(props.get("year"), value)]
    else:
        problems.append(
            "property 'dwellings': give an object of year → dwellings, or a number with 'year'"
        )
        return {}
    out: dict[int, float] = {}
    for year, count in pairs:
        y, n = _number(year), _number(count)
        if y is None or y != int(y) or not YEARS[0] <= y <= YEARS[1]:
            problems.append(f"dwellings: {year!r} is not a year ({YEARS[0]}-{YEARS[1]})")
        elif n is None or n < 0:
            problems.append(f"dwellings in {int(y)}: {count!r} is not a number >= 0")
        else:
            out[int(y)] = out.get(int(y), 0.0) + n
    return out


def _to_bng(geom: Any, crs: int, problems: list[str]) -> Any:
    """``geom`` in EPSG:27700 (from WGS84 or as given), None when outside the UK / GB."""
    x, y = shapely.get_coordinates(geom).T
    minx, miny, maxx, maxy = UK_LONLAT_BOUNDS if crs == 4326 else BNG_BOUNDS
    if not (np.all((x >= minx) & (x <= maxx)) and np.all((y >= miny) & (y <= maxy))):
        expected = "WGS84 lon/lat" if crs == 4326 else "EPSG:27700 metres"
        problems.append(f"coordinates outside the UK ({expected} expected)")
        return None
    if crs == 27700:
        return geom
    return shapely.transform(geom, lambda c: np.column_stack(wgs84_to_bng(c[:, 0], c[:, 1])))


def _feature_profile(value: Any, problems: list[str]) -> dict[str, float] | None:
    """A feature's ``age_profile`` (age band → share, summing to 1), None when absent."""
    if value is None:
        return None
    if not isinstance(value, dict) or not value:
        problems.append("property 'age_profile': give an object of age band → share")
        return None
    out: dict[str, float] = {}
    for label, share in value.items():
        try:
            parse_age_band(str(label))
        except ValueError as exc:
            problems.append(f"age_profile: {exc}")
            continue
        number = _number(share)
        if number is None or not 0 <= number <= 1:
            problems.append(f"age_profile {label!r}: {share!r} is not a share between 0 and 1")
            continue
        out[str(label)] = number
    if len(out) == len(value) and abs(sum(out.values()) - 1.0) > 1e-3:
        problems.append(f"age_profile: the shares sum to {sum(out.values()):g}, not 1")
    return out


def _housing_geojson(path: Path) -> HousingUpload:
    doc = _load_json(path)
    crs = _crs_of(path, doc)
    rejects: list[Reject] = []
    sites: list[dict[str, Any]] = []
    completions: list[tuple[str, int, float]] = []
    seen: dict[str, int] = {}
    for number, feature in enumerate(doc["features"], start=1):
        problems: list[str] = []
        props = feature.get("properties") if isinstance(feature, dict) else None
        props = props if isinstance(props, dict) else {}
        site_id = str(props.get("site_id", "")).strip()
        if not site_id:
            problems.append("property 'site_id' is empty")
        elif site_id in seen:
            problems.append(f"site {site_id!r} repeats feature {seen[site_id]}")
        geom = None
        try:
            geom = shape(feature["geometry"]) if feature.get("geometry") else None
        except (KeyError, TypeError, ValueError, AttributeError, shapely.errors.GEOSException):
            problems.append("the geometry is not valid GeoJSON")
        if geom is None and not problems:
            problems.append("no geometry")
        elif geom is not None and geom.geom_type not in ("Point", "Polygon", "MultiPolygon"):
            problems.append(f"a {geom.geom_type}: give a Point, Polygon or MultiPolygon")
            geom = None
        if geom is not None:
            geom = _to_bng(geom, crs, problems)
        if geom is not None and not geom.is_valid:
            problems.append(f"invalid geometry ({shapely.is_valid_reason(geom)})")
        dwellings = _feature_dwellings(props, problems)
        ppd = _number(props.get("persons_per_dwelling"))
        if props.get("persons_per_dwelling") not in (None, "") and (
            ppd is None or not 0 < ppd <= 20
        ):
            problems.append("property 'persons_per_dwelling' is not a number above 0 (<= 20)")
        profile = _feature_profile(props.get("age_profile"), problems)
        if problems:
            rejects += [Reject(number, p) for p in problems]
            continue
        seen[site_id] = number
        sites.append(
            {
                "_row": number,
                "site_id": site_id,
                "name": str(props.get("name") or site_id),
                "geometry": geom,
                "persons_per_dwelling": np.nan if ppd is None else ppd,
                "age_profile": profile,
            }
        )
        completions += [(site_id, y, n) for y, n in sorted(dwellings.items())]
    return HousingUpload(
        pd.DataFrame(
            sites,
            columns=["_row", "site_id", "name", "geometry", "persons_per_dwelling", "age_profile"],
        ),
        pd.DataFrame(completions, columns=["site_id", "year", "dwellings"]),
        rejects,
    )
