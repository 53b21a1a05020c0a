"""Benchmark: public-transport travel-time matrices on the Isle of Wight GTFS feed.

Workloads (every stop × every stop, departures every minute over a three-hour window,
percentiles 10/50/90, walks up to 800 m at 4.8 km/h, straight line × 1.3, 60 s transfer
slack, no transfer limit):

* ``iow-stops-x-stops-tue-0700-1000``: Tuesday 2019-05-14, 07:00-10:00;
* ``iow-stops-x-stops-mon-0900-1200``: Monday 2019-05-13, 09:00-12:00.

Engines, run side by side on the same timetable and walk legs:

* ``locus``: rRAPTOR (numba) in ``spatial.transit``;
* ``time-expanded-dijkstra``: one Dijkstra per origin and departure minute on a
  time-expanded graph (numba heap), the reference; ``equal`` compares locus with it
  (every percentile of every pair, NaN = unreachable).

Seconds are the median of ``--repeats`` runs after one untimed warm-up run (JIT compile).
Timetable building and feed reading are not timed. The last line printed is the JSON list.

Usage: ``.venv/bin/python bench/transit.py [--repeats N] [--data-dir PATH]``
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from etl.gtfs import read_gtfs
from spatial.transit import build_timetable, transit_travel_time_matrix

WORKLOADS = [
    ("iow-stops-x-stops-tue-0700-1000", dt.date(2019, 5, 14), 7 * 3600, 10 * 3600),
    ("iow-stops-x-stops-mon-0900-1200", dt.date(2019, 5, 13), 9 * 3600, 12 * 3600),
]
ENGINES = {"locus": "rraptor", "time-expanded-dijkstra": "time-expanded-dijkstra"}
PERCENTILES = (10, 50, 90)


def _timed(fn: Any, repeats: int) -> tuple[float, pd.DataFrame]:
    result = fn()  # warm-up: JIT compile / caches
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    default_data = Path(
        os.environ.get("LOCUS_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data")
    )
    parser.add_argument("--data-dir", type=Path, default=default_data)
    args = parser.parse_args()

    feed = read_gtfs(args.data_dir / "isle_of_wight" / "iow-bus-gtfs.zip")
    rows: list[dict[str, Any]] = []
    for name, date, start, end in WORKLOADS:
        tt = build_timetable(
            feed.stops,
            feed.trips,
            feed.stop_times,
            feed.routes,
            feed.calendar,
            feed.calendar_dates,
            date=date,
        )
        results: dict[str, pd.DataFrame] = {}
        seconds: dict[str, float] = {}
        for engine, kind in ENGINES.items():

            def run(kind: Any = kind, tt: Any = tt, start: int = start, end: int = end) -> Any:
                return transit_travel_time_matrix(
                    tt,
                    "stops",
                    "stops",
                    window_start_s=start,
                    window_end_s=end,
                    step_s=60,
                    percentiles=PERCENTILES,
                    max_walk_m=800.0,
                    walk_speed_m_s=4.8 / 3.6,
                    detour_factor=1.3,
                    max_transfers=None,
                    transfer_slack_s=60,
                    engine=kind,
                )

            seconds[engine], results[engine] = _timed(run, args.repeats)
        ref = results["time-expanded-dijkstra"]
        for engine, res in results.items():
            equal = all(
                np.array_equal(res[c].to_numpy(), ref[c].to_numpy(), equal_nan=True)
                for c in (f"seconds_p{p}" for p in PERCENTILES)
            ) and res[["from_id", "to_id"]].equals(ref[["from_id", "to_id"]])
            rows.append(
                {
                    "workload": name,
                    "engine": engine,
                    "seconds": round(seconds[engine], 4),
                    "equal": bool(equal),
                }
            )
        reached = int(results["locus"]["seconds_p50"].notna().sum())
        print(
            f"{name}: {tt.n_stops} stops, {tt.n_trips} trips, {tt.n_patterns} patterns, "
            f"{(end - start) // 60} departures; {len(ref):,} pairs, {reached:,} reached at p50; "
            f"locus {seconds['locus']:.3f} s, time-expanded-dijkstra "
            f"{seconds['time-expanded-dijkstra']:.3f} s "
            f"({seconds['time-expanded-dijkstra'] / seconds['locus']:.1f}x)"
        )
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
