"""GeoPackage and CSV exports of scenario and cluster results, with the attributions."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio

from app.reports._charts import ATTRIBUTION

__all__ = ["ATTRIBUTION", "to_csv", "to_geopackage"]


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """Lists/dicts in cells become ``"; "``-joined text (GeoPackage and CSV cannot hold them)."""
    out = frame.copy()
    for col in out.columns:
        if col == "geometry":
            continue
        if out[col].map(lambda v: isinstance(v, list | tuple | set | dict)).any():
            out[col] = (
                out[col]
                .map(lambda v: "; ".join(map(str, v)) if isinstance(v, list | tuple | set) else v)
                .astype(str)
            )
    return out


def to_geopackage(path: str | Path, layers: dict[str, gpd.GeoDataFrame | pd.DataFrame]) -> Path:
    """Write layers (GeoDataFrames; plain DataFrames become attribute tables) to one GeoPackage.

    An ``attribution`` table with the required licence statements is always added.
    Existing files are replaced. Returns the path.
    """
    path = Path(path)
    if path.exists():
        path.unlink()
    all_layers: dict[str, gpd.GeoDataFrame | pd.DataFrame] = dict(layers)
    all_layers["attribution"] = pd.DataFrame({"attribution": ATTRIBUTION.split("; ")})
    for name, frame in all_layers.items():
        if isinstance(frame, gpd.GeoDataFrame):
            pyogrio.write_dataframe(_plain(frame), path, layer=name, driver="GPKG")
        else:
            pyogrio.write_dataframe(_plain(frame), path, layer=name, driver="GPKG")
    return path


def to_csv(directory: str | Path, tables: dict[str, pd.DataFrame]) -> list[Path]:
    """Write each table as ``<name>.csv`` (geometry as WKT) plus ``ATTRIBUTION.txt``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, frame in tables.items():
        out = _plain(frame)
        if isinstance(out, gpd.GeoDataFrame):
            wkt = out.geometry.to_wkt()
            out = pd.DataFrame(out.drop(columns=out.geometry.name)).assign(geometry=wkt)
        target = directory / f"{name}.csv"
        out.to_csv(target, index=False)
        written.append(target)
    note = directory / "ATTRIBUTION.txt"
    note.write_text(ATTRIBUTION.replace("; ", "\n") + "\n", encoding="utf-8")
    written.append(note)
    return written
