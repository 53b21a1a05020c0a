"""One Public Estate co-location finder: buildings of different owners close to each other.

Cluster definition (hub-centred, "seed" clusters)
-------------------------------------------------
Every building whose tenure is freehold (``host_tenures``) is a candidate *host*. Its cluster
is the host plus every other site within the threshold of it: a straight-line distance in
metres (EPSG:27700) when ``max_distance_m`` is given, or a travel time in seconds from a
site-to-site matrix when ``travel_times``/``max_seconds`` are given (a pair is within the
threshold when the time in either direction is, i.e. the smaller of the two directions).
A cluster is kept only if it contains buildings of at least ``min_owners`` distinct owner
organisations. Clusters are ranked by score; a lower-ranked cluster whose set of buildings is a
subset of a higher-ranked one's is dropped (``drop_nested``), so the list has no duplicates.

Why seeds rather than connected components of the "within threshold" graph: in a town centre
single linkage chains buildings hundreds of metres apart into one blob with no meaningful
"walk between them" property, whereas a seed cluster guarantees every member is within the
threshold of a building that the public sector owns outright and that could host the others -
exactly the OPE question ("which freehold building could host a multi-agency hub, and who
would move in").

Population bands
----------------
Population "within 15 and 30 minutes" of a cluster is counted from areas (LSOAs) whose
representative point is within the band of the host: by travel time (default 900 and 1,800 s)
when ``travel_times`` holds area-to-site rows, else by straight-line distance (default 1,200
and 2,400 m: 15 and 30 minutes' walk at 80 m/min, 4.8 km/h). An area is in or out as a whole
(its population-weighted point decides), so the totals reconcile with the areas' population.

Score
-----
``score = Σ_k w_k · c_k / Σ_k w_k`` in [0, 1], with components (max over all candidate
clusters before de-duplication; a zero maximum gives 0):

* ``owners``      = (distinct owners − 1) / (max distinct owners − 1)
* ``host_space``  = freehold floor area (m²) / max
* ``running_cost``= combined running cost (£/year) / max
* ``floor_area``  = combined gross internal floor area (m²) / max
* ``population``  = population within the outer band / max
* ``deprivation`` = share of that population living in IMD deciles 1-2 (absolute, 0-1)
* ``services``    = distinct kinds of service / max

Hand-written: a KD-tree query and a few group-bys; no library defines OPE clusters.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from spatial.crs import BNG

__all__ = [
    "SCORE_COMPONENTS",
    "ClusterResult",
    "ScoreWeights",
    "find_colocation_clusters",
    "weights_from_mapping",
]


@dataclass(frozen=True)
class ScoreWeights:
    """Weights of the co-location score components (non-negative, not all zero).

    See the module docstring for the components; each weight multiplies a component in
    [0, 1] and the score is the weighted mean.
    """

    owners: float = 1.0
    host_space: float = 1.0
    running_cost: float = 1.0
    floor_area: float = 0.5
    population: float = 1.0
    deprivation: float = 1.0
    services: float = 0.5

    def __post_init__(self) -> None:
        values = self.as_dict()
        bad = [k for k, v in values.items() if not np.isfinite(v) or v < 0]
        if bad:
            raise ValueError(f"score weights must be finite and >= 0: {bad}")
        if sum(values.values()) <= 0:
            raise ValueError("at least one score weight must be positive")

    def as_dict(self) -> dict[str, float]:
        """The weights keyed by component name."""
        return {k: float(v) for k, v in asdict(self).items()}

    def formula(self) -> str:
        """The score formula with these weights, as text for reports."""
        total = sum(self.as_dict().values())
        terms = " + ".join(f"{w:g}·{k}" for k, w in self.as_dict().items())
        return f"score = ({terms}) / {total:g}"


#: The score components, in order: the fields of :class:`ScoreWeights`.
SCORE_COMPONENTS: tuple[str, ...] = tuple(f.name for f in fields(ScoreWeights))


@dataclass
class ClusterResult:
    """Ranked co-location clusters.

    Attributes
    ----------
    clusters : pandas.DataFrame
        One row per cluster, best first: ``cluster_id``, ``rank``, ``seed_site_id``,
        ``seed_name``, ``x``/``y`` of the host (EPSG:27700, m), ``n_buildings``, ``n_owners``,
        ``owners`` and ``owner_types`` (``"; "``-joined, sorted), ``kinds`` (services there),
        ``site_ids`` (list), ``combined_gia_m2``, ``gia_known_sites``,
        ``combined_running_cost_gbp`` (£/year), ``running_cost_estimated_sites``,
        ``freehold_gia_m2``, ``freehold_sites``, ``land_ha``, ``pop_within_<band>``,
        ``imd_decile_<1..10>`` (population within the outer band by IMD decile),
        ``deprived_share`` (deciles 1-2), age-band populations (outer band), ``c_<component>``
        (0-1), ``score`` and ``score_formula``.
    members : pandas.DataFrame
        One row per (cluster, site): ``cluster_id``, ``site_id``, ``name``, ``owner``,
        ``owner_type``, ``kind``, ``tenure``, ``gia_m2``, ``running_cost_gbp``,
        ``running_cost_estimated``, ``land_ha``, ``separation`` (from the host, in
        ``threshold_unit``), ``is_seed``.
    method : str
        ``"distance"`` or ``"travel_time"``.
    threshold : float
        The co-location threshold, in ``threshold_unit`` (``"m"`` or ``"s"``).
    population_bands : tuple of float
        Band limits for population counts, in ``threshold_unit``.
    weights : ScoreWeights
        The weights used.
    """

    clusters: pd.DataFrame
    members: pd.DataFrame
    method: str
    threshold: float
    threshold_unit: str
    population_bands: tuple[float, ...]
    weights: ScoreWeights
    notes: list[str] = field(default_factory=list)

    def cluster(self, cluster_id: int) -> dict[str, Any]:
        """One cluster's row as a dict, with its members as a list of dicts."""
        row = self.clusters.loc[self.clusters["cluster_id"] == cluster_id]
        if row.empty:
            raise KeyError(f"no cluster {cluster_id}")
        out: dict[str, Any] = {str(k): v for k, v in row.iloc[0].to_dict().items()}
        members = self.members[self.members["cluster_id"] == cluster_id]
        out["members"] = members.to_dict(orient="records")
        return out


def _points_bng(sites: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray]:
    if sites.crs is None:
        raise ValueError("sites has no CRS; expected EPSG:27700 (British National Grid)")
    frame = sites if sites.crs.to_epsg() == BNG else sites.to_crs(BNG)
    geoms = frame.geometry
    if geoms.isna().any() or geoms.is_empty.any():
        bad = list(frame.loc[geoms.isna() | geoms.is_empty, "site_id"])[:5]
        raise ValueError(f"sites without geometry (first: {bad}); drop or locate them first")
    pts = geoms.representative_point()
    return np.asarray(pts.x, dtype="float64"), np.asarray(pts.y, dtype="float64")


def _pair_seconds(travel_times: pd.DataFrame, ids: set[str]) -> dict[tuple[str, str], float]:
    tt = travel_times[["from_id", "to_id", "seconds"]].astype({"from_id": str, "to_id": str})
    tt = tt[tt["from_id"].isin(ids) & tt["to_id"].isin(ids)]
    pairs: dict[tuple[str, str], float] = {}
    for a, b, s in tt.itertuples(index=False):
        key = (a, b) if a <= b else (b, a)
        seconds = float(s)
        if key not in pairs or seconds < pairs[key]:
            pairs[key] = seconds
    return pairs


def _norm(values: pd.Series) -> pd.Series:
    top = float(values.max()) if len(values) else 0.0
    if not np.isfinite(top) or top <= 0:
        return pd.Series(0.0, index=values.index)
    return (values / top).astype("float64")


def find_colocation_clusters(
    sites: gpd.GeoDataFrame,
    *,
    max_distance_m: float | None = None,
    travel_times: pd.DataFrame | None = None,
    max_seconds: float | None = None,
    areas_population: pd.DataFrame | None = None,
    age_band_columns: Sequence[str] = (),
    population_bands_m: tuple[float, float] = (1200.0, 2400.0),
    population_bands_s: tuple[float, float] = (900.0, 1800.0),
    weights: ScoreWeights | None = None,
    host_tenures: Sequence[str] = ("freehold",),
    min_owners: int = 2,
    cost_per_m2: float | None = None,
    drop_nested: bool = True,
) -> ClusterResult:
    """Find and rank clusters of buildings of two or more owners (see module docstring).

    Parameters
    ----------
    sites : geopandas.GeoDataFrame
        Buildings, EPSG:27700 (another CRS is projected to it first). Columns ``site_id``,
        ``name``, ``owner``, ``owner_type``, ``kind``, ``tenure``, ``gia_m2`` (m²),
        ``running_cost_gbp`` (£/year), ``land_ha`` (ha); missing numbers count as unknown.
    max_distance_m : float, optional
        Straight-line co-location threshold in metres. Give this or ``max_seconds``.
    travel_times : pandas.DataFrame, optional
        Long matrix ``from_id, to_id, seconds``. Site-to-site rows define the time threshold;
        rows from an area code (``areas_population.area_code``) to a site id give population
        bands by time.
    max_seconds : float, optional
        Travel-time co-location threshold in seconds (needs ``travel_times``).
    areas_population : pandas.DataFrame, optional
        Areas with ``area_code``, ``x``, ``y`` (representative point, EPSG:27700, m),
        ``population`` (persons), optional ``imd_decile`` (1 = most deprived) and the
        ``age_band_columns``.
    age_band_columns : sequence of str
        Columns of ``areas_population`` with persons by age band, summed per cluster.
    population_bands_m : (float, float)
        Distance bands for population counts when no area travel times are given (metres).
    population_bands_s : (float, float)
        Time bands for population counts with area travel times (seconds).
    weights : ScoreWeights, optional
        Score weights (default ``ScoreWeights()``).
    host_tenures : sequence of str
        Tenures (case-insensitive) that make a building a candidate host / count as
        freehold space that could host others.
    min_owners : int, default 2
        Minimum number of distinct owners in a cluster.
    cost_per_m2 : float, optional
        £/m²/year applied to buildings with a floor area but no running cost (e.g. an ERIC
        rate from :func:`spatial.estate.estate_cost_per_m2`); such rows are flagged
        ``running_cost_estimated``. Without it, unknown costs count as 0 and are reported.
    drop_nested : bool, default True
        Drop clusters whose buildings are a subset of a better-ranked cluster's.

    Returns
    -------
    ClusterResult
        Clusters best first, their members, and the method and weights used.
    """
    weights = weights or ScoreWeights()
    if (max_distance_m is None) == (max_seconds is None):
        raise ValueError("give exactly one of max_distance_m (metres) or max_seconds (seconds)")
    if max_seconds is not None and travel_times is None:
        raise ValueError("max_seconds needs travel_times (from_id, to_id, seconds)")
    threshold = float(max_distance_m if max_distance_m is not None else max_seconds)  # type: ignore[arg-type]
    if not threshold > 0:
        raise ValueError("the co-location threshold must be positive")
    if min_owners < 2:
        raise ValueError("min_owners must be at least 2")
    required = ("site_id", "name", "owner", "owner_type", "kind", "tenure", "gia_m2")
    missing = [c for c in required if c not in sites.columns]
    if missing:
        raise ValueError(f"sites is missing columns {missing}")
    if sites["site_id"].astype(str).duplicated().any():
        raise ValueError("site_id values must be unique")

    xs, ys = _points_bng(sites)
    df = pd.DataFrame(
        {
            "site_id": sites["site_id"].astype(str).to_numpy(),
            "name": sites["name"].to_numpy(),
            "owner": sites["owner"].astype(str).to_numpy(),
            "owner_type": sites["owner_type"].to_numpy(),
            "kind": sites["kind"].to_numpy(),
            "tenure": sites["tenure"].to_numpy(),
            "gia_m2": pd.to_numeric(sites["gia_m2"], errors="coerce").to_numpy(),
            "running_cost_gbp": pd.to_numeric(
                sites.get("running_cost_gbp", pd.Series(np.nan, index=sites.index)),
                errors="coerce",
            ).to_numpy(),
            "land_ha": pd.to_numeric(
                sites.get("land_ha", pd.Series(np.nan, index=sites.index)), errors="coerce"
            ).to_numpy(),
            "x": xs,
            "y": ys,
        }
    )
    estimated = df["running_cost_gbp"].isna() & (df["gia_m2"] > 0) & (cost_per_m2 is not None)
    if cost_per_m2 is not None:
        df.loc[estimated, "running_cost_gbp"] = df.loc[estimated, "gia_m2"] * float(cost_per_m2)
    df["running_cost_estimated"] = estimated.to_numpy()
    hosts_norm = {t.strip().lower() for t in host_tenures}
    df["is_host_tenure"] = df["tenure"].astype(str).str.strip().str.lower().isin(hosts_norm)
    df.loc[df["tenure"].isna(), "is_host_tenure"] = False

    # Neighbours of every candidate host.
    seeds: list[int] = [int(v) for v in np.flatnonzero(df["is_host_tenure"].to_numpy())]
    neighbours: dict[int, list[tuple[int, float]]] = {}
    if max_distance_m is not None:
        tree = cKDTree(np.column_stack([xs, ys]))
        for s in seeds:
            idx = tree.query_ball_point([xs[s], ys[s]], r=threshold)
            d = np.hypot(xs[idx] - xs[s], ys[idx] - ys[s])
            neighbours[int(s)] = [(int(i), float(v)) for i, v in zip(idx, d, strict=True)]
        unit = "m"
    else:
        assert travel_times is not None
        pairs = _pair_seconds(travel_times, set(df["site_id"]))
        pos = {sid: i for i, sid in enumerate(df["site_id"])}
        adj: dict[int, list[tuple[int, float]]] = {}
        for (a, b), secs in pairs.items():
            if secs <= threshold:
                adj.setdefault(pos[a], []).append((pos[b], secs))
                if a != b:
                    adj.setdefault(pos[b], []).append((pos[a], secs))
        for s in seeds:
            near_map = {i: v for i, v in adj.get(s, []) if i != s}
            neighbours[s] = [(s, 0.0), *sorted(near_map.items())]
        unit = "s"

    # Population bands around each host.
    bands: tuple[float, ...]
    area_pop: pd.DataFrame | None = None
    area_sep: dict[int, pd.Series] = {}
    if areas_population is not None:
        need = ("area_code", "x", "y", "population")
        gone = [c for c in need if c not in areas_population.columns]
        gone += [c for c in age_band_columns if c not in areas_population.columns]
        if gone:
            raise ValueError(f"areas_population is missing columns {gone}")
        area_pop = areas_population.reset_index(drop=True).copy()
        area_pop["area_code"] = area_pop["area_code"].astype(str)
        area_rows = None
        if travel_times is not None:
            tt = travel_times.astype({"from_id": str, "to_id": str})
            area_rows = tt[tt["from_id"].isin(set(area_pop["area_code"]))]
        if area_rows is not None and not area_rows.empty:
            bands = tuple(float(b) for b in population_bands_s)
            by_site = area_rows.groupby("to_id")
            for seed in neighbours:
                seed_id = str(df.at[seed, "site_id"])
                if seed_id in by_site.groups:
                    g = by_site.get_group(seed_id).groupby("from_id")["seconds"].min()
                    area_sep[seed] = area_pop["area_code"].map(g).fillna(np.inf)
                else:
                    area_sep[seed] = pd.Series(np.inf, index=area_pop.index)
            band_unit = "s"
        else:
            bands = tuple(float(b) for b in population_bands_m)
            ax = area_pop["x"].to_numpy(dtype="float64")
            ay = area_pop["y"].to_numpy(dtype="float64")
            for seed in neighbours:
                area_sep[seed] = pd.Series(
                    np.hypot(ax - xs[seed], ay - ys[seed]), index=area_pop.index
                )
            band_unit = "m"
    else:
        bands = tuple(float(b) for b in (population_bands_s if unit == "s" else population_bands_m))
        band_unit = unit

    records: list[dict[str, Any]] = [
        {str(k): v for k, v in rec.items()} for rec in df.to_dict(orient="records")
    ]
    rows: list[dict[str, Any]] = []
    member_rows: list[dict[str, Any]] = []
    for s, near in neighbours.items():
        idx = [i for i, _ in near]
        sub = df.iloc[idx]
        owners = sorted(set(sub["owner"]))
        if len(owners) < min_owners:
            continue
        cid = len(rows) + 1
        host = sub["is_host_tenure"].to_numpy()
        row: dict[str, Any] = {
            "cluster_id": cid,
            "seed_site_id": df.at[s, "site_id"],
            "seed_name": df.at[s, "name"],
            "x": float(xs[s]),
            "y": float(ys[s]),
            "n_buildings": len(idx),
            "n_owners": len(owners),
            "owners": "; ".join(owners),
            "owner_types": "; ".join(sorted({str(t) for t in sub["owner_type"].dropna()})),
            "kinds": "; ".join(sorted({str(t) for t in sub["kind"].dropna()})),
            "n_kinds": len({str(t) for t in sub["kind"].dropna()}),
            "site_ids": list(sub["site_id"]),
            "combined_gia_m2": float(sub["gia_m2"].sum(min_count=0)),
            "gia_known_sites": int(sub["gia_m2"].notna().sum()),
            "combined_running_cost_gbp": float(sub["running_cost_gbp"].sum(min_count=0)),
            "running_cost_known_sites": int(sub["running_cost_gbp"].notna().sum()),
            "running_cost_estimated_sites": int(sub["running_cost_estimated"].sum()),
            "freehold_gia_m2": float(sub.loc[host, "gia_m2"].sum(min_count=0)),
            "freehold_sites": int(host.sum()),
            "land_ha": float(sub["land_ha"].sum(min_count=0)),
        }
        if area_pop is not None:
            area_d = area_sep[s]
            for band in bands:
                row[f"pop_within_{band:g}{band_unit}"] = float(
                    area_pop.loc[area_d <= band, "population"].sum()
                )
            inner = area_pop.loc[area_d <= bands[-1]]
            outer_pop = float(inner["population"].sum())
            if "imd_decile" in inner.columns:
                prof = inner.groupby("imd_decile")["population"].sum()
                for d in range(1, 11):
                    row[f"imd_decile_{d}"] = float(prof.get(d, 0.0))
                deprived = float(prof.get(1, 0.0)) + float(prof.get(2, 0.0))
                row["deprived_share"] = deprived / outer_pop if outer_pop > 0 else 0.0
            else:
                row["deprived_share"] = 0.0
            for c in age_band_columns:
                row[c] = float(inner[c].sum())
            row["population_outer"] = outer_pop
        else:
            row["deprived_share"] = 0.0
            row["population_outer"] = 0.0
        rows.append(row)
        for i, sep_v in near:
            r: dict[str, Any] = records[i]
            member_rows.append(
                {
                    "cluster_id": cid,
                    "site_id": r["site_id"],
                    "name": r["name"],
                    "owner": r["owner"],
                    "owner_type": r["owner_type"],
                    "kind": r["kind"],
                    "tenure": r["tenure"],
                    "gia_m2": r["gia_m2"],
                    "running_cost_gbp": r["running_cost_gbp"],
                    "running_cost_estimated": bool(r["running_cost_estimated"]),
                    "land_ha": r["land_ha"],
                    "separation": sep_v,
                    "is_seed": i == s,
                }
            )

    clusters = pd.DataFrame(rows)
    members = pd.DataFrame(member_rows)
    notes = [
        f"clusters: each freehold building (tenure in {sorted(hosts_norm)}) with every site "
        f"within {threshold:g} {unit} of it; kept with >= {min_owners} distinct owners",
        f"population bands in {band_unit}: {', '.join(f'{b:g}' for b in bands)}",
    ]
    if clusters.empty:
        return ClusterResult(
            clusters,
            members,
            "distance" if unit == "m" else "travel_time",
            threshold,
            unit,
            bands,
            weights,
            notes,
        )

    comps = {
        "owners": _norm(clusters["n_owners"] - 1.0),
        "host_space": _norm(clusters["freehold_gia_m2"]),
        "running_cost": _norm(clusters["combined_running_cost_gbp"]),
        "floor_area": _norm(clusters["combined_gia_m2"]),
        "population": _norm(clusters["population_outer"]),
        "deprivation": clusters["deprived_share"].astype("float64"),
        "services": _norm(clusters["n_kinds"].astype("float64")),
    }
    w = weights.as_dict()
    total_w = sum(w.values())
    score = pd.Series(0.0, index=clusters.index)
    for k in SCORE_COMPONENTS:
        clusters[f"c_{k}"] = comps[k]
        score += w[k] * comps[k]
    clusters["score"] = score / total_w
    clusters["score_formula"] = weights.formula()
    clusters = clusters.sort_values(
        ["score", "combined_gia_m2", "seed_site_id"], ascending=[False, False, True]
    ).reset_index(drop=True)

    if drop_nested:
        kept: list[int] = []
        kept_sets: list[frozenset[str]] = []
        for i, ids in enumerate(clusters["site_ids"]):
            members_set = frozenset(ids)
            if any(members_set <= k for k in kept_sets):
                continue
            kept.append(i)
            kept_sets.append(members_set)
        clusters = clusters.iloc[kept].reset_index(drop=True)
        members = members[members["cluster_id"].isin(set(clusters["cluster_id"]))]
    clusters.insert(1, "rank", np.arange(1, len(clusters) + 1))
    order = dict(zip(clusters["cluster_id"], clusters["rank"], strict=True))
    members = members.assign(_rank=members["cluster_id"].map(order))
    members = members.sort_values(["_rank", "is_seed", "separation"], ascending=[True, False, True])
    members = members.drop(columns="_rank").reset_index(drop=True)
    return ClusterResult(
        clusters=clusters,
        members=members,
        method="distance" if unit == "m" else "travel_time",
        threshold=threshold,
        threshold_unit=unit,
        population_bands=bands,
        weights=weights,
        notes=notes,
    )


def weights_from_mapping(values: Mapping[str, float]) -> ScoreWeights:
    """Build :class:`ScoreWeights` from a mapping, naming any unknown key in the error.

    Parameters
    ----------
    values : mapping of str to float
        Component name → weight (unitless, >= 0); missing components keep their default.

    Returns
    -------
    ScoreWeights
    """
    unknown = sorted(set(values) - set(SCORE_COMPONENTS))
    if unknown:
        raise ValueError(f"unknown score weight(s) {unknown}; known: {list(SCORE_COMPONENTS)}")
    return ScoreWeights(**{k: float(v) for k, v in values.items()})
