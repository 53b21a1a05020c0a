"""Population tables → ``population`` rows (area code, area vintage, sex, age band, count).

``vintage`` is the boundary vintage of the area code (2011 or 2021), so rows join
``areas (code, vintage)``; ``reference_date`` is the date the count refers to.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pandas as pd

from etl.loading import OGL, ParsedFile, Region, Reject
from etl.readers.common import (
    LSOA_RE,
    Progress,
    bad_codes,
    bad_numbers,
    ints_or_none,
    negative_numbers,
    read_csv,
    region_note,
    require_area_codes,
    require_columns,
    to_number,
)

ONS_LICENCE = f"{OGL}; Source: Office for National Statistics"
CENSUS_DAY = dt.date(2021, 3, 21)

_UNDER = re.compile(r"^Aged (\d+) years? and under$", re.I)
_RANGE = re.compile(r"^Aged (\d+) to (\d+) years?$", re.I)
_OVER = re.compile(r"^Aged (\d+) years? and over$", re.I)


def age_band(label: str) -> tuple[int, int | None] | None:
    """``"Aged 16 to 24 years"`` → (16, 24); ``"... and under"`` → (0, n); ``"... and over"`` →
    (n, None); anything else → None."""
    text = label.strip()
    if m := _UNDER.match(text):
        return 0, int(m.group(1))
    if m := _RANGE.match(text):
        return int(m.group(1)), int(m.group(2))
    if m := _OVER.match(text):
        return int(m.group(1)), None
    return None


def _frame(
    codes: pd.Series,
    rows: pd.Series,
    counts: pd.Series,
    *,
    vintage: int,
    source: str,
    sex: pd.Series | str,
    lower: pd.Series | int,
    upper: pd.Series | int | None,
    date: dt.date,
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "_row": rows.to_numpy(),
            "area_code": codes.to_numpy(),
            "vintage": vintage,
            "source": source,
            "sex": sex.to_numpy() if isinstance(sex, pd.Series) else sex,
            "age_lower": lower.to_numpy() if isinstance(lower, pd.Series) else lower,
            "age_upper": ints_or_none(upper) if isinstance(upper, pd.Series) else upper,
            "count": counts.to_numpy(dtype=float),
            "reference_date": date,
        }
    )


def _filter(
    path: Path, frame: pd.DataFrame, code_col: str, region: Region, *, national: bool
) -> tuple[pd.DataFrame, list[Reject], list[str]]:
    """Keep the rows of the region's areas: a national file drops the others (noted), a
    regional file rejects them."""
    if not region.key:
        return frame, [], []
    require_area_codes(path, region)
    inside = frame[code_col].isin(region.area_codes)
    if national:
        return frame[inside], [], region_note(region, int((~inside).sum()), "rows")
    rejects = [
        Reject(int(r), f"column {code_col!r}: area {c} is not in region {region.key}")
        for r, c in frame.loc[~inside, ["_row", code_col]].itertuples(index=False)
    ]
    return frame[inside], rejects, []


def _validated(
    frame: pd.DataFrame, code_col: str, count_col: str
) -> tuple[pd.DataFrame, pd.Series, list[Reject]]:
    counts = to_number(frame[count_col])
    rejects = bad_codes(frame, code_col, LSOA_RE, "LSOA code") + bad_numbers(
        frame, count_col, counts
    )
    rejects += negative_numbers(frame, count_col, counts)
    bad_rows = {r.row for r in rejects}
    keep = ~frame["_row"].isin(bad_rows)
    return frame[keep], counts[keep], rejects


def read_census2021_6_bands(
    path: Path, region: Region, progress: Progress | None = None
) -> ParsedFile:
    """Census 2021 usual residents per LSOA 2021 × 6 age bands (national CSV, optionally gzip)."""
    raw = read_csv(path, progress=progress)
    require_columns(path, raw, ["lsoa21_code", "age_group", "usual_residents"])
    raw["lsoa21_code"] = raw["lsoa21_code"].str.strip()
    frame, reg_rejects, notes = _filter(path, raw, "lsoa21_code", region, national=True)
    frame, counts, rejects = _validated(frame, "lsoa21_code", "usual_residents")
    bands = frame["age_group"].map(age_band)
    unknown = bands.isna()
    rejects += [
        Reject(int(r), f"column 'age_group': unknown age band {v!r}")
        for r, v in frame.loc[unknown, ["_row", "age_group"]].itertuples(index=False)
    ]
    frame, counts, bands = frame[~unknown], counts[~unknown], bands[~unknown]
    out = _frame(
        frame["lsoa21_code"],
        frame["_row"],
        counts,
        vintage=2021,
        source="census2021",
        sex="all",
        lower=bands.str[0],
        upper=bands.str[1],
        date=CENSUS_DAY,
    )
    return ParsedFile(
        dataset="census2021-age",
        path=path,
        licence=ONS_LICENCE,
        tables={"population": out},
        rows_read=len(raw),
        rejects=reg_rejects + rejects,
        vintage="2021",
        notes=notes,
    )


def read_sape_mid2017(path: Path, region: Region, progress: Progress | None = None) -> ParsedFile:
    """ONS SAPE20DT1 mid-2017 all-ages estimates: LSOA 2011 rows (and, interleaved, the
    local authority totals above them, which are skipped); thousands separators allowed."""
    raw = read_csv(path, progress=progress)
    require_columns(path, raw, ["Area Codes", "All Ages"])
    raw["Area Codes"] = raw["Area Codes"].str.strip()
    lsoa = raw[raw["Area Codes"].str.match(r"^[EW]01")]
    other = raw[~raw["Area Codes"].str.match(r"^[EW]0[1-9]")]
    rejects = [
        Reject(int(r), f"column 'Area Codes': {c!r} is not an ONS area code")
        for r, c in other[["_row", "Area Codes"]].itertuples(index=False)
    ]
    frame, reg_rejects, notes = _filter(path, lsoa, "Area Codes", region, national=True)
    frame, counts, more = _validated(frame, "Area Codes", "All Ages")
    out = _frame(
        frame["Area Codes"],
        frame["_row"],
        counts,
        vintage=2011,
        source="ons-sape-mid2017",
        sex="all",
        lower=0,
        upper=None,
        date=dt.date(2017, 6, 30),
    )
    return ParsedFile(
        dataset="sape-mid2017",
        path=path,
        licence=ONS_LICENCE,
        tables={"population": out},
        rows_read=len(raw),
        rejects=rejects + reg_rejects + more,
        vintage="2017",
        notes=notes,
    )


def read_midyear_single_age(
    path: Path, region: Region, progress: Progress | None = None
) -> ParsedFile:
    """ONS mid-year LSOA 2021 estimates by sex and single year of age (``0`` … ``89``,
    ``90+``), one row per area × sex. Females and Males are stored; the Persons row is
    checked against their sum."""
    raw = read_csv(path, progress=progress)
    ages = [str(a) for a in range(90)] + ["90+"]
    require_columns(path, raw, ["period", "area_code", "sex", *ages])
    raw["area_code"] = raw["area_code"].str.strip()
    frame, reg_rejects, notes = _filter(path, raw, "area_code", region, national=False)
    rejects = bad_codes(frame, "area_code", LSOA_RE, "LSOA code")
    sexes = (
        frame["sex"]
        .str.strip()
        .str.lower()
        .map({"persons": "all", "females": "female", "males": "male"})
    )
    rejects += [
        Reject(int(r), f"column 'sex': unknown value {v!r}")
        for r, v in frame.loc[sexes.isna(), ["_row", "sex"]].itertuples(index=False)
    ]
    dates = pd.to_datetime(frame["period"].str.strip(), format="%Y-%m-%d", errors="coerce")
    rejects += [
        Reject(int(r), f"column 'period': {v!r} is not a date (YYYY-MM-DD)")
        for r, v in frame.loc[dates.isna(), ["_row", "period"]].itertuples(index=False)
    ]
    pieces = []
    for age in ages:
        counts = to_number(frame[age])
        rejects += bad_numbers(frame, age, counts) + negative_numbers(frame, age, counts)
        pieces.append(counts)
    values = pd.concat(pieces, axis=1)
    values.columns = ages
    bad = {r.row for r in rejects}
    keep = ~frame["_row"].isin(bad)
    frame, values, sexes, dates = frame[keep], values[keep], sexes[keep], dates[keep]
    # Persons must equal Females + Males per area.
    by = values.groupby([frame["area_code"].to_numpy(), sexes.to_numpy()]).sum().sum(axis=1)
    for code in frame["area_code"].unique():
        persons = by.get((code, "all"))
        parts = by.get((code, "female"), 0.0) + by.get((code, "male"), 0.0)
        if persons is not None and abs(persons - parts) > 0.5:
            notes.append(f"{code}: Persons {persons:.0f} != Females + Males {parts:.0f}")
    split = sexes != "all"
    frame, values, sexes, dates = frame[split], values[split], sexes[split], dates[split]
    outs = []
    for age in ages:
        lower = 90 if age == "90+" else int(age)
        upper = None if age == "90+" else int(age)
        outs.append(
            pd.DataFrame(
                {
                    "_row": frame["_row"].to_numpy(),
                    "area_code": frame["area_code"].to_numpy(),
                    "vintage": 2021,
                    "source": "ons-midyear",
                    "sex": sexes.to_numpy(),
                    "age_lower": lower,
                    "age_upper": upper,
                    "count": values[age].to_numpy(dtype=float),
                    "reference_date": dates.dt.date.to_numpy(),
                }
            )
        )
    out = pd.concat(outs, ignore_index=True) if len(frame) else pd.DataFrame()
    if len(out):
        out["age_upper"] = out["age_upper"].astype(object).where(out["age_upper"].notna(), None)
    year = str(dates.dt.year.max()) if len(dates) else None
    return ParsedFile(
        dataset="midyear-sya",
        path=path,
        licence=ONS_LICENCE,
        tables={"population": out},
        rows_read=len(raw),
        rejects=reg_rejects + rejects,
        vintage=year,
        notes=notes,
    )


def read_census2021_5yr_long(
    path: Path, region: Region, progress: Progress | None = None
) -> ParsedFile:
    """Census 2021 5-year age bands in long format (``area_code``, ``period``, ``indicator``
    such as "Aged 5 to 9 years", ``measure`` Count, ``unit`` Persons, ``value``); regional."""
    raw = read_csv(path, progress=progress)
    require_columns(path, raw, ["area_code", "period", "indicator", "measure", "unit", "value"])
    raw["area_code"] = raw["area_code"].str.strip()
    frame, reg_rejects, notes = _filter(path, raw, "area_code", region, national=False)
    frame, counts, rejects = _validated(frame, "area_code", "value")
    rejects += [
        Reject(int(r), f"column 'measure': {v!r}, expected 'Count'")
        for r, v in frame.loc[frame["measure"] != "Count", ["_row", "measure"]].itertuples(
            index=False
        )
    ]
    bands = frame["indicator"].map(age_band)
    rejects += [
        Reject(int(r), f"column 'indicator': unknown age band {v!r}")
        for r, v in frame.loc[bands.isna(), ["_row", "indicator"]].itertuples(index=False)
    ]
    dates = pd.to_datetime(frame["period"].str.strip(), format="%Y-%m-%d", errors="coerce")
    rejects += [
        Reject(int(r), f"column 'period': {v!r} is not a date (YYYY-MM-DD)")
        for r, v in frame.loc[dates.isna(), ["_row", "period"]].itertuples(index=False)
    ]
    sex = (
        frame["unit"]
        .str.strip()
        .str.lower()
        .map({"persons": "all", "females": "female", "males": "male"})
    )
    rejects += [
        Reject(int(r), f"column 'unit': {v!r}, expected Persons, Females or Males")
        for r, v in frame.loc[sex.isna(), ["_row", "unit"]].itertuples(index=False)
    ]
    bad = {r.row for r in rejects}
    keep = ~frame["_row"].isin(bad)
    frame, counts, bands, dates, sex = (
        frame[keep],
        counts[keep],
        bands[keep],
        dates[keep],
        sex[keep],
    )
    out = pd.DataFrame(
        {
            "_row": frame["_row"].to_numpy(),
            "area_code": frame["area_code"].to_numpy(),
            "vintage": 2021,
            "source": "census2021",
            "sex": sex.to_numpy(),
            "age_lower": bands.str[0].to_numpy(),
            "age_upper": ints_or_none(bands.str[1]),
            "count": counts.to_numpy(dtype=float),
            "reference_date": dates.dt.date.to_numpy(),
        }
    )
    return ParsedFile(
        dataset="census2021-5yr",
        path=path,
        licence=ONS_LICENCE,
        tables={"population": out},
        rows_read=len(raw),
        rejects=reg_rejects + sorted(rejects, key=lambda r: r.row or 0),
        vintage="2021",
        notes=notes,
    )
