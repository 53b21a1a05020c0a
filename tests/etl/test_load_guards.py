"""The loader guards of issue 17 that let good files through: blank lines skipped, a smaller
file accepted with ``--allow-shrink``, non-finite numbers named in every reader (the shared
:func:`etl.readers.common.to_number` rule, uploads included), and ``locus keys create``
without a role a usage error. The refusals themselves are the corpus in
``test_bad_files.py``."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from app.cli import cli
from app.services.register import parse_assets
from config.settings import Settings, get_settings
from etl.datasets import load_dataset
from etl.loading import LoadError, LoadSummary, ParsedFile, load_parsed
from etl.readers.common import bad_numbers, number_problem, to_number
from store.connection import Database

from .conftest import RUTLAND, fetch
from .test_rutland_bundle import checksums

CODEPOINT = "rutland/codepoint_2014_le.csv"
NON_FINITE = ["1e400", "-1e400", "inf", "-inf", "Infinity", "nan", "NaN", " 1,0e999 "]


def test_non_finite_numbers_are_no_numbers() -> None:
    raw = pd.Series(["12.5", "1,632", "", "abc", *NON_FINITE], dtype=str)
    values = to_number(raw)
    assert values.iloc[0] == 12.5
    assert values.iloc[1] == 1632
    assert values.iloc[2:].isna().all()
    frame = pd.DataFrame({"_row": range(2, 2 + len(raw)), "gia_m2": raw})
    reasons = [str(r) for r in bad_numbers(frame, "gia_m2", values, allow_blank=True)]
    assert reasons == [
        "row 5: column 'gia_m2': 'abc' is not a number",
        *(
            f"row {6 + i}: column 'gia_m2': {v.strip()!r} is not a finite number"
            for i, v in enumerate(NON_FINITE)
        ),
    ]
    assert number_problem("12") == "'12' is not a number"  # never asked for a good one


def test_an_upload_with_an_infinite_floor_area_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "assets.csv"
    path.write_text(
        "name,kind,gia_m2,running_cost_gbp,lon,lat\n"
        "Depot,council_depot,1e400,10,-0.72,52.67\n"
        "Library,council_building,300,-inf,-0.72,52.67\n"
        "Hall,council_building,nan,5,inf,52.67\n"
        "Pool,council_building,-3,5,-0.72,52.67\n"
    )
    parsed = parse_assets(path, organisation="org-a", restricted=True)
    assert [str(r) for r in parsed.rejects] == [
        "row 2: column 'gia_m2': '1e400' is not a finite number (expected a number >= 0)",
        "row 3: column 'running_cost_gbp': '-inf' is not a finite number (expected a number >= 0)",
        "row 4: column 'gia_m2': 'nan' is not a finite number (expected a number >= 0)",
        "row 4: columns 'lon'/'lat': not a WGS84 position in the UK",
        "row 5: column 'gia_m2': '-3' is negative (expected a number >= 0)",
    ]


def test_an_infinity_no_reader_caught_is_refused_by_the_load(
    etl_db: Database, rutland: dict[str, LoadSummary], tmp_path: Path
) -> None:
    """The last line of defence: whatever a reader let through, no infinity is stored."""
    path = tmp_path / "pop.csv"
    path.write_text("x\n")
    frame = pd.DataFrame(
        {
            "_row": [7, 8],
            "area_code": ["E01013787", "E01013788"],
            "vintage": 2021,
            "source": "test",
            "sex": "all",
            "age_lower": 0,
            "age_upper": None,
            "count": [1.0, math.inf],
            "reference_date": pd.Timestamp("2021-03-21").date(),
        }
    )
    parsed = ParsedFile("test-pop", path, "test", {"population": frame}, rows_read=2)
    before = checksums(etl_db)
    with pytest.raises(LoadError, match=r"^pop\.csv: row 8: column 'count': inf is not a finite"):
        load_parsed(etl_db, parsed, region=RUTLAND)
    assert checksums(etl_db) == before


def _codepoint_copy(data_dir: Path, tmp: Path, text: str) -> Path:
    out = tmp / "codepoint_2014_le.csv"
    out.write_text(text)
    (tmp / "codepoint_column_headers.csv").write_bytes(
        (data_dir / "rutland" / "codepoint_column_headers.csv").read_bytes()
    )
    return out


@pytest.fixture
def restore_codepoint(etl_settings: Settings, data_dir: Path) -> Iterator[None]:
    """Put the published Code-Point file back as the active load after the test."""
    yield
    again = load_dataset(etl_settings, "codepoint", data_dir / CODEPOINT, region=RUTLAND)
    assert again.rows_loaded == {"postcodes": 1026}


def test_blank_lines_in_codepoint_are_skipped(
    etl_settings: Settings,
    etl_db: Database,
    rutland: dict[str, LoadSummary],
    data_dir: Path,
    tmp_path: Path,
    restore_codepoint: None,
) -> None:
    """A blank line after every record (and lines of separators only) carry no record: the
    file loads exactly the published postcodes, none rejected, none changed."""
    lines = (data_dir / CODEPOINT).read_text().splitlines()
    text = "\n\n".join(lines) + "\n,,,,,,,,,\n   \n"
    path = _codepoint_copy(data_dir, tmp_path, "\n" + text)
    summary = load_dataset(etl_settings, "codepoint", path, region=RUTLAND)
    assert summary.status == "loaded"
    assert (summary.rows_read, summary.rows_rejected) == (len(lines), 0)
    assert summary.rows_loaded == {"postcodes": 1026}
    changes = summary.changes["postcodes"]
    assert (changes.added, changes.removed, changes.changed, changes.unchanged) == (0, 0, 0, 1026)


@pytest.fixture
def cli_on_etl_database(etl_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """``locus`` commands read their settings from the environment: point them at the ETL
    tests' database."""
    monkeypatch.setenv("LOCUS_DATABASE_URL", etl_settings.database.url)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_locus_load_refuses_a_shrinking_file_unless_allowed(
    etl_db: Database,
    rutland: dict[str, LoadSummary],
    data_dir: Path,
    tmp_path: Path,
    cli_on_etl_database: None,
    restore_codepoint: None,
) -> None:
    """A third of Rutland's postcodes missing: refused naming the share, the setting and the
    flag; with ``--allow-shrink`` loaded, the change report listing the removals."""
    lines = (data_dir / CODEPOINT).read_text().splitlines()
    rutland_lines = [i for i, line in enumerate(lines) if '"E06000017"' in line]
    dropped = set(rutland_lines[::3])
    path = _codepoint_copy(
        data_dir, tmp_path, "\n".join(v for i, v in enumerate(lines) if i not in dropped) + "\n"
    )
    before = checksums(etl_db)
    runner = CliRunner()
    refused = runner.invoke(cli, ["load", "codepoint", str(path), "--region", RUTLAND])
    assert refused.exit_code == 1
    message = _words(refused.output)
    assert "load refused, nothing changed:" in message
    assert f"would remove {len(dropped)} of the 1,026 rows of postcodes" in message
    assert "LOCUS_LOAD_MAX_SHRINK=0.1 (10%)" in message
    assert "--allow-shrink" in message
    assert checksums(etl_db) == before

    allowed = runner.invoke(
        cli, ["load", "codepoint", str(path), "--region", RUTLAND, "--allow-shrink"]
    )
    assert allowed.exit_code == 0, allowed.output
    (row,) = fetch(
        etl_db,
        "SELECT changes->'postcodes'->>'removed' AS removed, rows_loaded FROM data_loads "
        "WHERE dataset = 'codepoint' AND status = 'active'",
    )
    assert int(row.removed) == len(dropped)
    assert row.rows_loaded == 1026 - len(dropped)


def test_the_shrink_share_is_a_setting(
    etl_settings: Settings,
    etl_db: Database,
    rutland: dict[str, LoadSummary],
    data_dir: Path,
    tmp_path: Path,
    restore_codepoint: None,
) -> None:
    """LOCUS_LOAD_MAX_SHRINK=0.5 lets a third of the rows go without the flag."""
    lines = (data_dir / CODEPOINT).read_text().splitlines()
    rutland_lines = [i for i, line in enumerate(lines) if '"E06000017"' in line]
    dropped = set(rutland_lines[::3])
    path = _codepoint_copy(
        data_dir, tmp_path, "\n".join(v for i, v in enumerate(lines) if i not in dropped) + "\n"
    )
    lenient = etl_settings.model_copy(
        update={"load": etl_settings.load.model_copy(update={"max_shrink": 0.5})}
    )
    summary = load_dataset(lenient, "codepoint", path, region=RUTLAND)
    assert summary.changes["postcodes"].removed == len(dropped)
    assert np.isclose(len(dropped) / 1026, 0.334, atol=0.01)


def _words(output: str) -> str:
    """CLI output as single-spaced words (without rich's box-drawing borders)."""
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", output).split())


def test_keys_create_without_a_role_is_a_usage_error() -> None:
    runner = CliRunner()
    missing = runner.invoke(cli, ["keys", "create", "--org", "org-a"])
    assert missing.exit_code == 2
    assert "Missing option '--role'" in missing.output
    assert "Traceback" not in missing.output
    wrong = runner.invoke(cli, ["keys", "create", "--org", "org-a", "--role", "boss"])
    assert wrong.exit_code == 2
    assert "role 'boss': expected one of viewer, analyst, admin" in _words(wrong.output)
    helped = runner.invoke(cli, ["keys", "create", "--help"])
    assert "viewer, analyst or admin" in _words(helped.output)
