"""The postcode readers keep each postcode's local authority and ward (Code-Point Open's DC and
WC columns), and reject a malformed code with its row and column."""

from __future__ import annotations

from pathlib import Path

from etl.loading import Region
from etl.readers.postcodes import read_codepoint


def test_codepoint_keeps_district_and_ward_and_rejects_bad_codes(
    data_dir: Path, tmp_path: Path
) -> None:
    source = data_dir / "rutland" / "codepoint_2014_le.csv"
    lines = [line for line in source.read_text().splitlines() if line.startswith('"LE156')][:3]
    assert len(lines) == 3
    bad = lines[2].rsplit(",", 1)[0] + ',"X05BAD"'
    path = tmp_path / "codepoint_2014_le.csv"
    path.write_text("\n".join([*lines[:2], bad]) + "\n")
    parsed = read_codepoint(path, Region(key=""))
    frame = parsed.tables["postcodes"]
    assert [str(r) for r in parsed.rejects] == ["row 3: column 'WC': 'X05BAD' is not a ward code"]
    expected = [line.replace('"', "").split(",") for line in lines[:2]]
    assert frame["postcode"].tolist() == [f"{e[0][:-3]} {e[0][-3:]}" for e in expected]
    assert frame["lad_code"].tolist() == [e[8] for e in expected] == ["E06000017"] * 2
    assert frame["ward_code"].tolist() == [e[9] for e in expected]
    assert all(w.startswith("E05") for w in frame["ward_code"])
