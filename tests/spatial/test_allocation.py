"""Location-allocation models against published values and brute force on small instances."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from spatial.allocation import (
    LSCP,
    MCLP,
    BackupCoverage,
    CapacitatedPMedian,
    NotSolvedError,
    PCenter,
    PMedian,
    Progress,
    SolveStatus,
    read_orlib_optima,
    read_orlib_pmed,
)

# ---------------------------------------------------------------- helpers


def _pmed_dir(data_dir: Path) -> Path:
    return data_dir / "benchmarks" / "pmed"


def _sf(data_dir: Path) -> tuple[pd.DataFrame, pd.Series]:
    """spopt's San Francisco set, built as in spopt's tests (pivot sorted by tract name)."""
    folder = data_dir / "benchmarks" / "spopt_sf"
    dist = pd.read_csv(
        folder / "SF_network_distance_candidateStore_16_censusTract_205_new.csv",
        dtype={"DestinationName": str},
    )
    piv = dist.pivot_table(values="distance", index="DestinationName", columns="name")
    demand = pd.read_csv(folder / "SF_demand_205_centroid_uniform_weight.csv", dtype={"NAME": str})
    weights = demand.set_index("NAME").loc[piv.index, "POP2000"].astype(float)
    return piv, weights


def _random_instance(seed: int, n: int, m: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    dem = rng.uniform(0, 100, size=(n, 2))
    sites = rng.uniform(0, 100, size=(m, 2))
    cost = np.round(np.hypot(*(dem[:, None, :] - sites[None, :, :]).transpose(2, 0, 1)), 1)
    weights = rng.integers(1, 20, size=n).astype(float)
    return cost, weights


def _brute_pmedian(
    cost: np.ndarray, w: np.ndarray, p: int, keep: tuple[int, ...] = (), excl: tuple[int, ...] = ()
) -> float:
    m = cost.shape[1]
    free = [j for j in range(m) if j not in keep and j not in excl]
    best = np.inf
    for combo in itertools.combinations(free, p - len(keep)):
        cols = list(keep) + list(combo)
        best = min(best, float(np.dot(w, cost[:, cols].min(axis=1))))
    return best


# ---------------------------------------------------------------- OR-Library


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
def test_orlib_pmed_published_optimum_proven(data_dir: Path, k: int) -> None:
    folder = _pmed_dir(data_dir)
    optima = read_orlib_optima(folder / "pmedopt_1-10.txt")
    inst = read_orlib_pmed(folder / f"pmed{k}.txt")
    assert inst.cost.shape == (100, 100)
    model = PMedian.from_cost_matrix(inst.cost, None, p=inst.p).solve()
    assert model.objective == optima[f"pmed{k}"]
    assert model.bound == optima[f"pmed{k}"]
    assert model.status is SolveStatus.OPTIMAL
    assert model.gap == 0.0
    assert len(model.sites) == inst.p
    assert float(model.assigned_cost.sum()) == optima[f"pmed{k}"]


def test_orlib_reader_last_duplicate_edge_wins(tmp_path: Path) -> None:
    path = tmp_path / "pmed0.txt"
    path.write_text(" 3 3 1\n1 2 10\n2 3 4\n2 1 3\n")
    inst = read_orlib_pmed(path)
    assert inst.p == 1
    assert inst.cost[0, 1] == 3.0
    assert inst.cost[0, 2] == 7.0
    # the published optimum of pmed1 needs the same rule
    assert read_orlib_optima(_pmed_dir_default(tmp_path))["pmed1"] == 5819.0


def _pmed_dir_default(tmp_path: Path) -> Path:
    path = tmp_path / "opt.txt"
    path.write_text("Data file   Optimal solution value\npmed1 5819\npmed2 4093\n")
    return path


def test_lagrangian_bound_and_heuristic_bracket_the_optimum(data_dir: Path) -> None:
    inst = read_orlib_pmed(_pmed_dir(data_dir) / "pmed6.txt")
    optimum = 7824.0
    lag = PMedian.from_cost_matrix(inst.cost, None, p=inst.p).solve(method="lagrangian")
    assert lag.lower_bound <= optimum <= lag.objective
    assert lag.lower_bound > 0.99 * optimum
    # stopped at once by the time limit, the answer says so and stays honest
    limited = PMedian.from_cost_matrix(inst.cost, None, p=inst.p).solve(
        method="lagrangian", time_limit_s=0.0
    )
    assert limited.status is SolveStatus.TIME_LIMIT
    assert limited.lower_bound <= optimum <= limited.objective
    assert limited.gap == pytest.approx(
        (limited.objective - limited.lower_bound) / limited.objective
    )


def test_pmed6_exact_path_proves_optimum_and_reports_progress(data_dir: Path) -> None:
    inst = read_orlib_pmed(_pmed_dir(data_dir) / "pmed6.txt")
    seen: list[Progress] = []
    model = PMedian.from_cost_matrix(inst.cost, None, p=inst.p).solve(progress=seen.append)
    assert model.objective == 7824.0
    assert model.status is SolveStatus.OPTIMAL
    assert {p.stage for p in seen} >= {"heuristic", "lagrangian"}
    assert all(p.bound <= 7824.0 for p in seen if np.isfinite(p.bound))


# ---------------------------------------------------------------- spopt San Francisco


def test_sf_pmedian_matches_spopt(data_dir: Path) -> None:
    piv, weights = _sf(data_dir)
    model = PMedian.from_cost_matrix(
        piv.to_numpy(), weights.to_numpy(), p=4, demand_ids=piv.index, site_ids=piv.columns
    ).solve()
    assert model.mean_cost == pytest.approx(2982.1268579890657, rel=1e-12)
    assert model.status is SolveStatus.OPTIMAL
    assert sorted(model.sites) == ["Store_11", "Store_12", "Store_15", "Store_2"]
    assert model.assignment.loc["060750479.01"] in set(model.sites)


def test_sf_mclp_matches_spopt(data_dir: Path) -> None:
    piv, weights = _sf(data_dir)
    model = MCLP.from_cost_matrix(
        piv.to_numpy(), weights.to_numpy(), p=4, service_radius=5000, site_ids=piv.columns
    ).solve()
    # spopt's perc_cov is the share of demand points covered: 184 of 205
    assert model.covered_points_percent == pytest.approx(89.75609756097561)
    assert int((~model.covered).sum()) == 21
    assert model.objective == model.covered_demand == 875247.0
    assert model.status is SolveStatus.OPTIMAL
    assert model.bound == model.objective


def test_sf_from_travel_times_long_format(data_dir: Path) -> None:
    piv, weights = _sf(data_dir)
    long = piv.stack().rename("seconds").reset_index()
    long.columns = ["from_id", "to_id", "seconds"]
    model = PMedian.from_travel_times(long, weights, p=4, keep=["Store_1"]).solve()
    assert "Store_1" in set(model.sites)
    assert len(model.sites) == 4
    assert model.status is SolveStatus.OPTIMAL
    dense = PMedian.from_cost_matrix(
        piv.to_numpy(), weights.to_numpy(), p=4, keep=[piv.columns.get_loc("Store_1")]
    ).solve()
    assert model.objective == pytest.approx(dense.objective, rel=1e-12)


# ---------------------------------------------------------------- options


def test_keep_and_exclude_are_honoured() -> None:
    cost, w = _random_instance(3, 40, 10)
    free = PMedian.from_cost_matrix(cost, w, p=3).solve()
    chosen = list(free.site_index)
    keep = [j for j in range(10) if j not in chosen][:1]
    excl = chosen[:2]
    model = PMedian.from_cost_matrix(cost, w, p=3, keep=keep, exclude=excl).solve()
    assert set(keep) <= set(model.site_index)
    assert not set(excl) & set(model.site_index)
    assert model.objective == pytest.approx(_brute_pmedian(cost, w, 3, tuple(keep), tuple(excl)))
    assert model.status is SolveStatus.OPTIMAL
    for cls, kwargs in ((MCLP, {"service_radius": 30.0}), (PCenter, {})):
        other = cls.from_cost_matrix(cost, w, p=3, keep=keep, exclude=excl, **kwargs).solve()
        assert set(keep) <= set(other.site_index)
        assert not set(excl) & set(other.site_index)


def test_pmedian_matches_brute_force_and_max_cost_is_sparse() -> None:
    cost, w = _random_instance(7, 30, 9)
    for p in (1, 2, 4):
        model = PMedian.from_cost_matrix(cost, w, p=p).solve()
        assert model.objective == pytest.approx(_brute_pmedian(cost, w, p))
        assert model.status is SolveStatus.OPTIMAL
    capped = np.where(cost <= 45.0, cost, np.inf)
    model = PMedian.from_cost_matrix(cost, w, p=3, max_cost=45.0).solve(method="mip")
    assert model.objective == pytest.approx(_brute_pmedian(capped, w, 3))
    assert float(model.assigned_cost.max()) <= 45.0
    tight = PMedian.from_cost_matrix(cost, w, p=1, max_cost=20.0).solve()
    assert tight.status is SolveStatus.INFEASIBLE


def test_from_points_certified_against_exact() -> None:
    rng = np.random.default_rng(11)
    dem = rng.uniform(0, 1000, size=(300, 2))
    sites = rng.uniform(0, 1000, size=(60, 2))
    w = rng.integers(1, 50, size=300).astype(float)
    cost = np.hypot(*(dem[:, None, :] - sites[None, :, :]).transpose(2, 0, 1))
    exact = PMedian.from_cost_matrix(cost, w, p=12).solve()
    approx = PMedian.from_points(dem, sites, w, p=12, k_nearest=8).solve(gap_tol=0.005)
    assert exact.status is SolveStatus.OPTIMAL
    assert approx.lower_bound <= exact.objective * (1 + 1e-9)
    assert approx.objective >= exact.objective * (1 - 1e-9)
    assert approx.gap <= 0.005
    # the reported objective is the exact cost of the reported sites
    mask = np.zeros(60, dtype=bool)
    mask[approx.site_index] = True
    assert approx.objective == pytest.approx(float(np.dot(w, cost[:, mask].min(axis=1))))


def test_results_refused_before_solve() -> None:
    model = PMedian.from_cost_matrix([[1.0, 2.0], [2.0, 1.0]], [1, 1], p=1)
    with pytest.raises(NotSolvedError, match="not been solved"):
        _ = model.objective
    with pytest.raises(NotSolvedError):
        _ = model.sites
    assert not model.solved
    with pytest.raises(ValueError, match="p=3 exceeds"):
        PMedian.from_cost_matrix([[1.0, 2.0]], [1], p=3)
    with pytest.raises(ValueError, match="both kept and excluded"):
        PMedian.from_cost_matrix([[1.0, 2.0]], [1], p=1, keep=[0], exclude=[0])


def test_coverage_bands_before_and_after() -> None:
    cost = np.array([[5.0, 30.0, 50.0], [25.0, 10.0, 40.0], [45.0, 35.0, 5.0], [15.0, 20.0, 8.0]])
    w = np.array([100.0, 200.0, 300.0, 400.0])
    model = PMedian.from_cost_matrix(cost, w, p=2, existing=[0], bands=(10, 20, 30)).solve()
    assert sorted(model.site_index) == [1, 2]
    table = model.coverage.set_index("band")
    # before: only site 0 -> costs 5, 25, 45, 15; after: sites 1, 2 -> 30, 10, 5, 8
    assert list(table["before"]) == [100.0, 500.0, 700.0]
    assert list(table["after"]) == [900.0, 900.0, 1000.0]
    assert table.loc[30, "after_share"] == 1.0


# ---------------------------------------------------------------- other models


def test_pcenter_hand_checked_and_brute_force() -> None:
    cost = [[0, 5, 9], [3, 4, 8], [9, 6, 0], [7, 2, 6]]
    model = PCenter.from_cost_matrix(cost, p=2).solve()
    assert list(model.site_index) == [1, 2]
    assert model.objective == 5.0
    assert model.status is SolveStatus.OPTIMAL
    c, w = _random_instance(5, 25, 8)
    best = min(float(c[:, list(s)].min(axis=1).max()) for s in itertools.combinations(range(8), 3))
    model = PCenter.from_cost_matrix(c, w, p=3).solve()
    assert model.objective == best
    assert model.lower_bound == best


def test_lscp_hand_checked() -> None:
    cost = [[1, 9, 9, 3], [2, 1, 9, 9], [9, 9, 1, 9], [9, 2, 2, 9]]
    model = LSCP.from_cost_matrix(cost, service_radius=2).solve()
    # demand 2 needs site 2; demands 0, 1 share site 0; site 2 also covers demand 3
    assert list(model.site_index) == [0, 2]
    assert model.objective == 2.0
    assert model.status is SolveStatus.OPTIMAL
    assert LSCP.from_cost_matrix(cost, service_radius=0.5).solve().status is (
        SolveStatus.INFEASIBLE
    )


def test_mclp_hand_checked() -> None:
    cost = [[1, 9, 9], [2, 9, 3], [9, 1, 9], [9, 9, 1], [9, 9, 2]]
    w = [10, 10, 25, 8, 8]
    model = MCLP.from_cost_matrix(cost, w, p=2, service_radius=3).solve()
    # site 1 covers 25; site 2 covers 10 + 8 + 8 = 26; site 0 covers 20
    assert list(model.site_index) == [1, 2]
    assert model.objective == 51.0
    assert model.covered_share == pytest.approx(51 / 61)
    assert model.bound == 51.0


def test_backup_coverage_hand_checked() -> None:
    cost = [[1, 1, 9, 9], [1, 9, 1, 9], [9, 1, 1, 1], [9, 9, 9, 1]]
    w = [5, 3, 4, 1]
    model = BackupCoverage.from_cost_matrix(cost, w, p=3, service_radius=2).solve()
    # demand 3 forces site 3; {0, 1, 3} backs up 5 + 4 = 9, {0, 2, 3} 3 + 4 = 7, {1, 2, 3} 4
    assert list(model.site_index) == [0, 1, 3]
    assert model.objective == 9.0
    assert list(model.backup_covered) == [True, False, True, False]
    auto = BackupCoverage.from_cost_matrix(cost, w, service_radius=2).solve()
    assert auto.result.extra["p"] == 2  # LSCP minimum: {0, 3} is the only 2-site cover
    assert list(auto.site_index) == [0, 3]
    assert auto.objective == 0.0


@pytest.mark.parametrize("single_source", [False, True])
def test_capacities_never_exceeded(single_source: bool) -> None:
    cost, w = _random_instance(21, 24, 6)
    caps = np.full(6, w.sum() / 3.2)
    model = CapacitatedPMedian.from_cost_matrix(
        cost, w, p=4, capacities=caps, single_source=single_source
    ).solve()
    assert model.status is SolveStatus.OPTIMAL
    loads = model.loads
    assert (loads.to_numpy() <= caps[model.site_index] + 1e-6).all()
    alloc = model.allocation
    served = alloc.groupby("demand_id")["share"].sum()
    assert np.allclose(served.to_numpy(), 1.0)
    if single_source:
        assert (alloc["share"] == 1.0).all()
        assert alloc["demand_id"].is_unique
    uncapped = PMedian.from_cost_matrix(cost, w, p=4).solve()
    assert model.objective >= uncapped.objective - 1e-6
    split = CapacitatedPMedian.from_cost_matrix(cost, w, p=4, capacities=caps).solve()
    single = CapacitatedPMedian.from_cost_matrix(
        cost, w, p=4, capacities=caps, single_source=True
    ).solve()
    assert split.objective <= single.objective + 1e-6


def test_capacitated_hand_checked() -> None:
    cost = [[1, 5], [1, 5], [5, 1]]
    model = CapacitatedPMedian.from_cost_matrix(
        cost, [2, 2, 1], p=2, capacities=[3, 3], single_source=True
    ).solve()
    assert model.objective == 13.0
    assert list(model.loads) == [2.0, 3.0]
    split = CapacitatedPMedian.from_cost_matrix(cost, [2, 2, 1], p=2, capacities=[3, 3]).solve()
    # one unit of demand moves: 3 * 1 + 1 * 5 + 1 * 1 = 9
    assert split.objective == 9.0
