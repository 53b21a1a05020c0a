"""Benchmark: location-allocation (Locus) against PySAL spopt (PuLP with CBC and with HiGHS).

Workloads
---------
pmed1..pmedN      every OR-Library ``pmedN.txt`` in ``--pmed-dir`` (default the shared folder)
                  with its ``pmedopt*.txt``; ``equal``: published optimum reached (and, for
                  locus, proven: status optimal, bound equal to the optimum).
spopt-sf-pmedian  San Francisco p-median p=4: mean distance 2982.1268579890657 (spopt's test).
spopt-sf-mclp     San Francisco MCLP S=5000 p=4: 89.75609756097561 % of demand points covered.
england-p500      every LSOA 2021 in England (Census 2021 population) x every active GP
                  practice, straight-line metres in EPSG:27700, p=500; ``equal``: certified
                  gap below 1 % within 10 minutes (locus only).

Prints one line per run, then as the LAST line a JSON list of rows
``{"workload", "engine", "seconds", "equal"}`` (seconds: median of ``--repeats`` runs for
locus on the small workloads; one run for spopt and for england-p500).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from spatial.allocation import (
    MCLP,
    PMedian,
    SolveStatus,
    read_orlib_optima,
    read_orlib_pmed,
)

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SF_MEAN = 2982.1268579890657
SF_PERC = 89.75609756097561


def _median_time(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    times = []
    out = None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def _row(
    rows: list[dict[str, Any]], workload: str, engine: str, sec: float, eq: bool, note: str = ""
) -> None:
    rows.append({"workload": workload, "engine": engine, "seconds": round(sec, 4), "equal": eq})
    print(f"{workload:20s} {engine:12s} {sec:10.3f} s  equal={eq}  {note}", flush=True)


def _spopt_pmedian(
    cost: np.ndarray, w: np.ndarray, p: int, solver: str, limit: float
) -> tuple[float, float, str]:
    import pulp
    from spopt.locate import PMedian as SpPMedian

    s = (
        pulp.PULP_CBC_CMD(msg=False, timeLimit=limit)
        if solver == "cbc"
        else pulp.HiGHS(msg=False, timeLimit=limit)
    )
    t = time.perf_counter()
    model = SpPMedian.from_cost_matrix(cost, w, p)
    try:
        model.solve(s)
    except RuntimeError as exc:  # spopt raises when the solver stops without a solution
        return time.perf_counter() - t, float("nan"), f"error: {exc}"[:60]
    sec = time.perf_counter() - t
    obj = float(pulp.value(model.problem.objective))
    return sec, obj, pulp.LpStatus[model.problem.status]


def _pmed_files(folder: Path) -> list[tuple[str, Path]]:
    files = []
    for path in folder.glob("pmed*.txt"):
        match = re.fullmatch(r"pmed(\d+)\.txt", path.name)
        if match:
            files.append((int(match.group(1)), path))
    return [(f"pmed{k}", path) for k, path in sorted(files)]


def bench_pmed(rows: list[dict[str, Any]], folder: Path, args: argparse.Namespace) -> None:
    optima: dict[str, float] = {}
    for opt_file in folder.glob("pmedopt*.txt"):
        optima.update(read_orlib_optima(opt_file))
    files = _pmed_files(folder)
    if files:  # compile the kernels outside the timings
        inst = read_orlib_pmed(files[0][1])
        PMedian.from_cost_matrix(inst.cost, None, p=inst.p).solve()
    for name, path in files:
        inst = read_orlib_pmed(path)
        opt = optima.get(name, float("nan"))
        sec, model = _median_time(
            lambda inst=inst: PMedian.from_cost_matrix(inst.cost, None, p=inst.p).solve(
                time_limit_s=args.locus_time_limit
            ),
            args.repeats,
        )
        eq = bool(
            model.objective == opt and model.bound == opt and model.status is SolveStatus.OPTIMAL
        )
        _row(
            rows,
            name,
            "locus",
            sec,
            eq,
            f"obj={model.objective:g} bound={model.bound:g} {model.status.value} "
            f"{model.result.extra}",
        )
        if args.skip_spopt:
            continue
        w = np.ones(len(inst.cost))
        for solver in ("cbc", "highs"):
            sec, obj, st = _spopt_pmedian(inst.cost, w, inst.p, solver, args.spopt_time_limit)
            timed_out = sec >= 0.97 * args.spopt_time_limit
            eq = bool(abs(obj - opt) < 1e-6 and not timed_out)
            _row(
                rows,
                name,
                f"spopt-{solver}",
                sec,
                eq,
                f"obj={obj:g} pulp-status={st}{' TIME-LIMIT' if timed_out else ''}",
            )


def _sf() -> tuple[np.ndarray, np.ndarray]:
    folder = DATA / "benchmarks" / "spopt_sf"
    dist = pd.read_csv(
        folder / "SF_network_distance_candidateStore_16_censusTract_205_new.csv",
        dtype={"DestinationName": str},
    )
    piv = dist.pivot_table(values="distance", index="DestinationName", columns="name")
    demand = pd.read_csv(folder / "SF_demand_205_centroid_uniform_weight.csv", dtype={"NAME": str})
    weights = demand.set_index("NAME").loc[piv.index, "POP2000"].to_numpy(dtype=float)
    return piv.to_numpy(), weights


def bench_sf(rows: list[dict[str, Any]], args: argparse.Namespace) -> None:
    cost, w = _sf()
    sec, model = _median_time(lambda: PMedian.from_cost_matrix(cost, w, p=4).solve(), args.repeats)
    _row(
        rows,
        "spopt-sf-pmedian",
        "locus",
        sec,
        bool(abs(model.mean_cost - SF_MEAN) <= 1e-9 * SF_MEAN),
        f"mean={model.mean_cost!r}",
    )
    sec, mclp = _median_time(
        lambda: MCLP.from_cost_matrix(cost, w, p=4, service_radius=5000).solve(), args.repeats
    )
    _row(
        rows,
        "spopt-sf-mclp",
        "locus",
        sec,
        bool(abs(mclp.covered_points_percent - SF_PERC) < 1e-9),
        f"perc={mclp.covered_points_percent!r}",
    )
    if args.skip_spopt:
        return
    import pulp
    import spopt.locate as spl

    for solver in ("cbc", "highs"):

        def mk(solver: str = solver) -> Any:
            return pulp.PULP_CBC_CMD(msg=False) if solver == "cbc" else pulp.HiGHS(msg=False)

        sec, sp = _median_time(
            lambda: spl.PMedian.from_cost_matrix(cost, w, 4).solve(mk()), args.repeats
        )
        _row(
            rows,
            "spopt-sf-pmedian",
            f"spopt-{solver}",
            sec,
            bool(abs(sp.mean_dist - SF_MEAN) <= 1e-9 * SF_MEAN),
            f"mean={sp.mean_dist!r}",
        )
        sec, sm = _median_time(
            lambda: spl.MCLP.from_cost_matrix(cost, w, 5000.0, 4).solve(mk()), args.repeats
        )
        _row(
            rows,
            "spopt-sf-mclp",
            f"spopt-{solver}",
            sec,
            bool(abs(sm.perc_cov - SF_PERC) < 1e-9),
            f"perc={sm.perc_cov!r}",
        )


def england_inputs() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """LSOA 2021 points and population; active GP practices (EPSG:27700 metres)."""
    from pyproj import Transformer

    folder = DATA / "england"
    pop = pd.read_csv(folder / "census2021_usual_residents_lsoa21_6_age_bands.csv.gz")
    pop = pop[pop["lsoa21_code"].str.startswith("E")]
    people = pop.groupby("lsoa21_code")["usual_residents"].sum()
    cent = pd.read_csv(folder / "lsoa_latlong.csv").set_index("LSOACD").loc[people.index]
    ep = pd.read_csv(folder / "epraccur.csv", header=None, dtype=str)
    active = ep[(ep[12] == "A") & (ep[25] == "4")][0]
    geo = (
        pd.read_csv(folder / "gp_practices_geo.csv")
        .dropna(subset=["LAT", "LON"])
        .drop_duplicates("ODS_Code")
        .set_index("ODS_Code")
    )
    codes = active[active.isin(geo.index)].to_numpy()
    tr = Transformer.from_crs(4326, 27700, always_xy=True)
    dx, dy = tr.transform(cent["longitude"].to_numpy(), cent["latitude"].to_numpy())
    sx, sy = tr.transform(geo.loc[codes, "LON"].to_numpy(), geo.loc[codes, "LAT"].to_numpy())
    return np.c_[dx, dy], people.to_numpy(dtype=float), np.c_[sx, sy], codes


def bench_england(rows: list[dict[str, Any]], args: argparse.Namespace) -> None:
    t = time.perf_counter()
    dxy, pop, sxy, codes = england_inputs()
    model = PMedian.from_points(dxy, sxy, pop, p=500, k_nearest=args.k_nearest, site_ids=codes)
    model.solve(method="lagrangian", gap_tol=args.england_gap, time_limit_s=args.england_limit)
    sec = time.perf_counter() - t
    eq = bool(model.gap < 0.01 and sec < 600)
    _row(
        rows,
        "england-p500",
        "locus",
        sec,
        eq,
        f"n={len(dxy)} m={len(sxy)} mean={model.mean_cost:.1f} m gap={model.gap:.4%} "
        f"{model.status.value} {model.result.extra}",
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pmed-dir", type=Path, default=DATA / "benchmarks" / "pmed")
    parser.add_argument(
        "--workloads", default="pmed,sf,england", help="comma list of: pmed, sf, england"
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-spopt", action="store_true")
    parser.add_argument("--spopt-time-limit", type=float, default=60.0)
    parser.add_argument("--locus-time-limit", type=float, default=600.0)
    parser.add_argument("--england-limit", type=float, default=540.0)
    parser.add_argument("--england-gap", type=float, default=0.005)
    parser.add_argument("--k-nearest", type=int, default=64)
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    rows: list[dict[str, Any]] = []
    chosen = set(args.workloads.split(","))
    if "pmed" in chosen:
        bench_pmed(rows, args.pmed_dir, args)
    if "sf" in chosen:
        bench_sf(rows, args)
    if "england" in chosen:
        bench_england(rows, args)
    for engine in ("locus", "spopt-cbc", "spopt-highs"):
        total = sum(
            r["seconds"] for r in rows if r["engine"] == engine and r["workload"].startswith("pmed")
        )
        if total:
            print(f"total pmed seconds {engine}: {total:.3f}", file=sys.stderr)
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
