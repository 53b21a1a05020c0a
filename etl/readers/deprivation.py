"""English Indices of Deprivation 2019 → ``deprivation`` rows (LSOA 2011, domain, rank,
decile, score when published).

File 1 is the MHCLG spreadsheet (sheet ``IMD2019``); the all-domains table is a CSV (gzip)
with ``<domain>_rank`` / ``<domain>_decile`` (and optional ``<domain>_score``) columns.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from etl.loading import OGL, ParsedFile, Region, Reject
from etl.readers.common import (
    LSOA_RE,
    Progress,
    bad_codes,
    bad_numbers,
    read_csv,
    read_sheet,
    region_note,
    report,
    require_area_codes,
    require_columns,
    sheet_frame,
    to_number,
)

MHCLG_LICENCE = f"{OGL}; Source: Ministry of Housing, Communities and Local Government"

IMD_COLUMNS = {
    "code": "LSOA code (2011)",
    "lad": "Local Authority District code (2019)",
    "rank": "Index of Multiple Deprivation (IMD) Rank",
    "decile": "Index of Multiple Deprivation (IMD) Decile",
}

#: IoD all-domains column prefixes → the domain names stored.
IOD_DOMAINS = {
    "index_of_multiple_deprivation_imd": "imd",
    "income": "income",
    "employment": "employment",
    "education_skills_and_training": "education",
    "health_deprivation_and_disability": "health",
    "crime": "crime",
    "barriers_to_housing_and_services": "barriers",
    "living_environment": "living_environment",
}


def _filter(
    path: Path, frame: pd.DataFrame, code_col: str, lad_col: str | None, region: Region
) -> tuple[pd.DataFrame, list[str]]:
    """A national table: keep the region's LSOAs (by LAD code when the file has one)."""
    if not region.key:
        return frame, []
    if region.lad_code and lad_col is not None:
        inside = frame[lad_col].str.strip() == region.lad_code
    else:
        require_area_codes(path, region)
        inside = frame[code_col].isin(region.area_codes)
    return frame[inside], region_note(region, int((~inside).sum()), "LSOAs")


def _ranked(
    frame: pd.DataFrame,
    code_col: str,
    rank_col: str,
    decile_col: str,
    score_col: str | None,
    domain: str,
    source: str,
) -> tuple[pd.DataFrame, list[Reject]]:
    rank = to_number(frame[rank_col])
    decile = to_number(frame[decile_col])
    score = to_number(frame[score_col]) if score_col else pd.Series(float("nan"), frame.index)
    rejects: list[Reject] = []
    bad_rank = rank.isna() | (rank < 1) | (rank % 1 != 0)
    bad_decile = decile.isna() | ~decile.isin(range(1, 11))
    rejects += [
        Reject(int(r), f"column {rank_col!r}: {v!r} is not a rank")
        for r, v in frame.loc[bad_rank, ["_row", rank_col]].itertuples(index=False)
    ]
    rejects += [
        Reject(int(r), f"column {decile_col!r}: {v!r} is not a decile 1-10")
        for r, v in frame.loc[bad_decile, ["_row", decile_col]].itertuples(index=False)
    ]
    score_rejects = bad_numbers(frame, score_col, score, allow_blank=True) if score_col else []
    rejects += score_rejects
    bad_score = frame["_row"].isin({r.row for r in score_rejects})
    ok = ~(bad_rank | bad_decile | bad_score)
    out = pd.DataFrame(
        {
            "_row": frame.loc[ok, "_row"].to_numpy(),
            "area_code": frame.loc[ok, code_col].to_numpy(),
            "vintage": 2011,
            "domain": domain,
            "score": score[ok].to_numpy(dtype=float),
            "rank": rank[ok].astype(int).to_numpy(),
            "decile": decile[ok].astype(int).to_numpy(),
            "source": source,
        }
    )
    return out, rejects


def read_imd2019_file1(path: Path, region: Region, progress: Progress | None = None) -> ParsedFile:
    """IMD 2019 File 1 (xlsx): IMD rank and decile per LSOA 2011 (domain ``imd``)."""
    rows = read_sheet(path, "IMD2019")
    frame = sheet_frame(path, rows, 1)
    require_columns(path, frame, IMD_COLUMNS.values())
    report(progress, len(frame), len(frame))
    code, lad = IMD_COLUMNS["code"], IMD_COLUMNS["lad"]
    frame[code] = frame[code].str.strip()
    frame, notes = _filter(path, frame, code, lad, region)
    rejects = bad_codes(frame, code, LSOA_RE, "LSOA code")
    frame = frame[~frame["_row"].isin({r.row for r in rejects})]
    out, more = _ranked(
        frame, code, IMD_COLUMNS["rank"], IMD_COLUMNS["decile"], None, "imd", "imd2019"
    )
    return ParsedFile(
        dataset="imd2019",
        path=path,
        licence=MHCLG_LICENCE,
        tables={"deprivation": out},
        rows_read=len(rows) - 1,
        rejects=rejects + more,
        vintage="2019",
        notes=notes,
    )


def read_iod2019_all_domains(
    path: Path, region: Region, progress: Progress | None = None
) -> ParsedFile:
    """IoD 2019 all domains (CSV, optionally gzip): rank, decile (and score) per domain."""
    raw = read_csv(path, progress=progress)
    needed = ["lsoa11_code", "lad19_code"]
    for prefix in IOD_DOMAINS:
        needed += [f"{prefix}_rank", f"{prefix}_decile"]
    require_columns(path, raw, needed)
    raw["lsoa11_code"] = raw["lsoa11_code"].str.strip()
    frame, notes = _filter(path, raw, "lsoa11_code", "lad19_code", region)
    rejects = bad_codes(frame, "lsoa11_code", LSOA_RE, "LSOA code")
    frame = frame[~frame["_row"].isin({r.row for r in rejects})]
    outs = []
    for prefix, domain in IOD_DOMAINS.items():
        score = f"{prefix}_score" if f"{prefix}_score" in frame.columns else None
        out, more = _ranked(
            frame, "lsoa11_code", f"{prefix}_rank", f"{prefix}_decile", score, domain, "iod2019"
        )
        outs.append(out)
        rejects += more
    return ParsedFile(
        dataset="iod2019",
        path=path,
        licence=MHCLG_LICENCE,
        tables={"deprivation": pd.concat(outs, ignore_index=True)},
        rows_read=len(raw),
        rejects=sorted(set(rejects), key=lambda r: (r.row or 0, r.reason)),
        vintage="2019",
        notes=notes,
    )
