"""Maps and charts as PNG bytes (matplotlib, Agg backend; no display needed)."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")

import geopandas as gpd
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.collections import PolyCollection
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Circle
from matplotlib.ticker import MaxNLocator

ATTRIBUTION = (
    "© OpenStreetMap contributors, ODbL 1.0; Contains public sector information licensed "
    "under the Open Government Licence v3.0; Contains OS data © Crown copyright and database "
    "right"
)


def _polygons(geoms: gpd.GeoSeries) -> tuple[list[np.ndarray], list[int]]:
    """Exterior rings of (multi)polygons and the row each ring belongs to."""
    rings: list[np.ndarray] = []
    owner: list[int] = []
    for i, g in enumerate(geoms):
        if g is None or g.is_empty:
            continue
        parts = getattr(g, "geoms", [g])
        for part in parts:
            if hasattr(part, "exterior"):
                rings.append(np.asarray(part.exterior.coords)[:, :2])
                owner.append(i)
    return rings, owner


def choropleth(
    ax: Axes,
    geoms: gpd.GeoSeries,
    values: np.ndarray,
    *,
    cmap: str,
    vmin: float,
    vmax: float,
    label: str,
) -> None:
    """Fill polygons by value with a colour bar (plain matplotlib: geopandas' plot redraws the
    whole figure on every call, which is slow on small machines). NaN is light grey."""
    rings, owner = _polygons(geoms)
    norm = Normalize(vmin=vmin, vmax=vmax)
    colormap = plt.get_cmap(cmap)
    vals = np.asarray(values, dtype="float64")[owner]
    faces = [colormap(norm(v)) if np.isfinite(v) else (0.85, 0.85, 0.85, 1.0) for v in vals]
    ax.add_collection(PolyCollection(rings, facecolors=faces, edgecolors="white", linewidths=0.3))
    ax.autoscale_view()
    mappable = ScalarMappable(norm=norm, cmap=colormap)
    cbar = ax.figure.colorbar(mappable, ax=ax, shrink=0.7)
    cbar.set_label(label)
    cbar.locator = MaxNLocator(5)
    cbar.update_ticks()


def png(fig: Figure, *, dpi: int = 90) -> bytes:
    """Render and close a figure."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, pil_kwargs={"compress_level": 1})
    plt.close(fig)
    return buf.getvalue()


def data_uri(image: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(image).decode("ascii")


def _footer(fig: Figure) -> None:
    fig.text(0.01, 0.005, ATTRIBUTION, fontsize=5.5, color="#444", ha="left", va="bottom")


def access_maps(
    areas: gpd.GeoDataFrame,
    sites: pd.DataFrame,
    *,
    threshold_min: float,
    title: str,
) -> Figure:
    """Three panels: nearest-site time before, after (minutes) and the change.

    ``areas`` needs ``baseline_s``, ``scenario_s`` and ``status``; ``sites`` needs ``x``,
    ``y`` (EPSG:27700) and ``status``.
    """
    fig, axes = plt.subplots(1, 3, figsize=(12, 4.6))
    before = areas["baseline_s"].replace(np.inf, np.nan) / 60.0
    after = areas["scenario_s"].replace(np.inf, np.nan) / 60.0
    vmax = float(np.nanmax(np.concatenate([before.to_numpy(), after.to_numpy()])))
    for ax, values, label in ((axes[0], before, "Baseline"), (axes[1], after, "Scenario")):
        choropleth(
            ax,
            areas.geometry,
            values.to_numpy(),
            cmap="viridis_r",
            vmin=0.0,
            vmax=vmax,
            label="minutes to nearest site",
        )
        ax.set_title(f"{label}: travel time to nearest site")
    change = (after - before).fillna(0.0)
    lim = max(float(np.abs(change).max()), 1.0)
    choropleth(
        axes[2],
        areas.geometry,
        change.to_numpy(),
        cmap="RdBu_r",
        vmin=-lim,
        vmax=lim,
        label="change (minutes)",
    )
    rings, _ = _polygons(areas.loc[areas["status"] == "loses"].geometry)
    if rings:
        axes[2].add_collection(
            PolyCollection(rings, facecolors="none", edgecolors="black", linewidths=1.4)
        )
    axes[2].set_title(f"Change; black outline = loses access within {threshold_min:g} min")
    pts = sites.dropna(subset=["x", "y"])
    styles = {
        "kept": ("o", "white"),
        "closed": ("X", "red"),
        "opened": ("*", "lime"),
    }
    for ax in axes:
        for status, group in pts.groupby(pts["status"].astype(str)):
            key = "closed" if "closed" in status else "opened" if "opened" in status else "kept"
            if status == "not serving":
                continue
            marker, colour = styles[key]
            ax.scatter(
                group["x"],
                group["y"],
                marker=marker,
                c=colour,
                edgecolors="black",
                s=90,
                zorder=5,
                label=status,
            )
        ax.set_axis_off()
        ax.set_aspect("equal")
    handles, labels = axes[0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=8)
    fig.suptitle(title)
    fig.subplots_adjust(left=0.01, right=0.99, top=0.88, bottom=0.1, wspace=0.05)
    _footer(fig)
    return fig


def time_distribution(areas: pd.DataFrame, *, bands_min: Sequence[int]) -> Figure:
    """Population-weighted cumulative distribution of nearest-site time, before and after."""
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    for col, pop, label, style in (
        ("baseline_s", "population_baseline", "Baseline", "-"),
        ("scenario_s", "population_scenario", "Scenario", "--"),
    ):
        t = areas[col].to_numpy(dtype="float64") / 60.0
        w = areas[pop].to_numpy(dtype="float64")
        ok = np.isfinite(t)
        order = np.argsort(t[ok])
        cum = np.cumsum(w[ok][order]) / max(w.sum(), 1e-9) * 100.0
        ax.step(np.r_[0.0, t[ok][order]], np.r_[0.0, cum], where="post", ls=style, label=label)
    for b in bands_min:
        ax.axvline(b, color="grey", lw=0.6, ls=":")
    ax.set_xlabel("minutes to nearest site")
    ax.set_ylabel("% of population within")
    ax.set_ylim(0, 101)
    ax.legend()
    ax.set_title("Travel-time distribution (population weighted)")
    return fig


def losers_chart(by_age: pd.Series, by_imd: pd.Series, *, threshold_min: float) -> Figure:
    """Bars of people losing access by age band and by IMD decile."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    age = by_age if not by_age.empty else pd.Series({"(none)": 0.0})
    axes[0].barh([str(i) for i in age.index], age.to_numpy(), color="#c0392b")
    axes[0].set_xlabel("people")
    axes[0].set_title(f"Losing access within {threshold_min:g} min, by age")
    deciles = [str(d) for d in range(1, 11)]
    imd = by_imd.reindex(range(1, 11), fill_value=0.0)
    axes[1].bar(deciles, imd.to_numpy(), color="#8e44ad")
    axes[1].set_xlabel("IMD decile (1 = most deprived)")
    axes[1].set_ylabel("people")
    axes[1].set_title("... by deprivation")
    fig.subplots_adjust(left=0.2, right=0.98, wspace=0.3, bottom=0.15)
    return fig


def cluster_map(
    members: gpd.GeoDataFrame,
    clusters: pd.DataFrame,
    *,
    threshold_m: float | None,
    background: gpd.GeoDataFrame | None,
    title: str,
) -> Figure:
    """Cluster members coloured by owner type, hosts ringed with the threshold (if metres)."""
    fig, ax = plt.subplots(figsize=(8.5, 7.5))
    if background is not None and not background.empty:
        rings, _ = _polygons(background.geometry)
        ax.add_collection(
            PolyCollection(rings, facecolors="#f2f2f2", edgecolors="#bbbbbb", linewidths=0.3)
        )
    colours = plt.get_cmap("tab10")
    for k, (otype, group) in enumerate(members.groupby(members["owner_type"].astype(str))):
        ax.scatter(
            group.geometry.x,
            group.geometry.y,
            s=22,
            color=colours(k % 10),
            edgecolors="black",
            linewidths=0.3,
            label=otype,
            zorder=4,
        )
    for _, c in clusters.iterrows():
        if threshold_m is not None:
            ax.add_patch(
                Circle((c["x"], c["y"]), threshold_m, fill=False, color="#d35400", lw=1.0, zorder=3)
            )
        ax.annotate(
            str(int(c["rank"])),
            (c["x"], c["y"]),
            fontsize=9,
            weight="bold",
            xytext=(4, 4),
            textcoords="offset points",
            zorder=6,
        )
    ax.legend(loc="upper left", fontsize=8)
    ax.set_aspect("equal")
    ax.set_axis_off()
    ax.set_title(title)
    _footer(fig)
    return fig


def score_chart(
    clusters: pd.DataFrame, components: Sequence[str], weights: dict[str, float]
) -> Figure:
    """Stacked bars of weighted score components per cluster rank."""
    fig, ax = plt.subplots(figsize=(8, 3.8))
    total = sum(weights.values())
    bottom = np.zeros(len(clusters))
    ranks = [str(int(r)) for r in clusters["rank"]]
    for comp in components:
        vals = clusters[f"c_{comp}"].to_numpy(dtype="float64") * weights[comp] / total
        ax.bar(ranks, vals, bottom=bottom, label=comp)
        bottom += vals
    ax.set_xlabel("cluster rank")
    ax.set_ylabel("score")
    ax.legend(fontsize=7, ncol=4)
    ax.set_title("Score by component (weighted)")
    return fig
