"""Benchmark: the map API under 50 concurrent clients on loopback (items pages and tiles).

Set-up (not timed): a throwaway database ``locus_bench_api_<random>`` is created, migrated
to head and loaded with the Rutland demo bundle (:func:`app.demo.load_demo`); for the
workloads over stored catchments, a set as large as issue 17's (three catchments jobs: 856
bands, 11.1 million vertices) is added in one SQL statement
(:mod:`bench.support.stored_catchments`: 864 bands, 11.1 million vertices; the migration
0012 triggers build their tile parts as for a job's bands). Then uvicorn serves
``app.main:app`` from a subprocess on a free loopback port, once per engine (``1``: one
worker, ``2``: two, ``-nocache``: ``LOCUS_TILE_CACHE_MB=0``, every tile and page rendered).
The database is dropped at the end.

Workloads (each: a short warm-up, then ``--duration`` seconds measured):

* ``items-100``: ``/collections/{sites,areas}/items?limit=100`` pages with varied bbox
  (CRS84 halves and quadrants of Rutland, two BNG boxes, none); Rutland has 37 located
  sites and 54 areas, so each page holds all the matching features (up to 54 polygons);
* ``items-100-full``: the same for postcodes and network edges at offsets 0-2000, pages
  that hold 100 features;
* ``tiles-z8-14``: ``/collections/{areas,sites,network_edges}/tiles/WebMercatorQuad/z/x/y``
  for every tile covering Rutland at zooms 8-14 (network edges from their minimum zoom 11);
* ``catchments-tiles``: with the stored catchments, every tile over Rutland at zooms 8-14
  of the ``catchments`` layer and of the all-layer tile ``/tiles/WebMercatorQuad/z/x/y``;
* ``catchments-mixed``: issue 17's failure: those tiles and the ``items-100`` pages at once
  (``tiles_p95_ms`` and ``items_p95_ms`` are reported apart);
* ``soak`` (not in the default list): ``catchments-mixed`` plus ``tiles-z8-14`` for
  ``--soak-duration`` seconds (600), the data version bumped every ``--soak-bump-s`` (60 s:
  an update that changes nothing served, so every cached tile and page is rendered again),
  and the resident memory of the uvicorn processes sampled every 5 s: ``rss_mb_first`` and
  ``rss_mb_last`` are the medians of the first and last minute (``rss_mb_by_minute`` all of
  them), ``memory_flat`` is true when the last minute is within 10 % (or 16 MB) of the
  first. The response cache (``LOCUS_TILE_CACHE_MB``, 64 per worker) fills in the first
  minutes, so the bound allows for it.

Load model: exactly ``--clients`` (50) closed-loop clients, each with one keep-alive
connection; a client sends a request, reads the whole response, waits a think time drawn
uniformly from ``[0, 2 × --think-ms]`` and sends the next (``--think-ms 0`` is a saturation
test: latency is then queueing, ``clients / throughput``). Each request is drawn with a
seeded RNG: a group uniformly (a zoom level for tiles, a collection for items), then a URL of
that group uniformly (so low zooms, with their large tiles, are as frequent as zoom 14).
The client (:mod:`bench.support.http_load`) is a minimal HTTP/1.1 reader on asyncio streams,
so the load generator spends as little as possible of the two cores it shares with uvicorn
and PostgreSQL; its CPU time is reported (``client_cpu_s``) next to the server's
(``server_cpu_s``: uvicorn processes) and the rest of the machine (``other_cpu_s``:
PostgreSQL and anything else running, e.g. other people's jobs on a shared machine;
``loadavg_1m_before`` and ``loadavg_1m_after`` say how busy it was).

Tile cache: with the default ``LOCUS_TILE_CACHE_MB`` (64) the reference pass has rendered
every tile once, so the timed run is served from the warm cache where it holds the tiles
(the catchment tiles, up to 512 KB each, do not all fit: misses are rendered); the
``-nocache`` engine renders every tile and every page from the database.

Correctness: before the load, every distinct URL is fetched once (one at a time) as the
reference: its status and a SHA-256 of its body (for items, of the ``features`` array only,
since ``timeStamp`` changes). For items pages the expected ``numberReturned`` is also
computed independently in SQL over the base tables and must equal the reference; every
reference tile must be a 200 or 204 within ``LOCUS_TILE_MAX_BYTES`` (``max_tile_bytes``,
``truncated_tiles``: those whose limits dropped features). During the load every response
must have the reference status and hash; anything else (or a connection error, or a status
other than 200/204) is an error. ``equal`` is true when there were no errors and every
reference check held.

Output rows: ``seconds`` is the median latency; ``p50_ms``, ``p95_ms``, ``p99_ms``,
``requests``, ``errors``, ``rps`` (completed requests per second), CPU seconds of client,
server and other processes over the measured window, ``rss_mb`` of the server at the end.

Usage: ``.venv/bin/python bench/api_load.py [--duration 20] [--clients 50] [--think-ms 100]
[--engines 1,2,2-nocache] [--workloads ...] [--database-url URL (reuse a loaded database,
kept; stored catchments are added if it has none)]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.support.http_load import (  # noqa: E402
    Groups,
    Stats,
    fetch_reference,
    free_port,
    machine_busy,
    run_load,
    start_server,
    stop_server,
    tree_cpu,
    tree_rss_mb,
)
from bench.support.workloads import ItemsRequest, build_workloads, expected_items  # noqa: E402

MAX_TILE_BYTES = 512 * 1024  # LOCUS_TILE_MAX_BYTES default
_NUMBER_RETURNED = re.compile(rb'"numberReturned":\s*(\d+)')
CATCHMENT_WORKLOADS = {"catchments-tiles", "catchments-mixed", "soak"}


# --------------------------------------------------------------------------------------------
# Database


def prepare_database(data_dir: Path | None) -> str:
    from sqlalchemy.engine import make_url

    from app.demo import load_demo
    from config.settings import load_settings
    from store.admin import create_database, upgrade_head

    base = load_settings()
    url = (
        make_url(base.database.url)
        .set(database=f"locus_bench_api_{uuid.uuid4().hex[:10]}")
        .render_as_string(hide_password=False)
    )
    settings = base.with_database(url)
    create_database(settings.database)
    upgrade_head(settings.database)
    load_demo(settings, data_dir=data_dir or settings.paths.data_dir)
    return url


def ensure_stored_catchments(conninfo: str) -> dict[str, Any]:
    """Add the synthetic catchments set unless catchments are stored already."""
    from bench.support.stored_catchments import insert_catchments

    with psycopg.connect(conninfo, autocommit=True) as conn:
        row = conn.execute("SELECT count(*), coalesce(sum(ST_NPoints(geom)), 0) FROM catchments")
        bands, vertices = row.fetchone() or (0, 0)
        seconds = 0.0
        if bands == 0:
            t = time.perf_counter()
            bands, vertices = insert_catchments(conn)
            seconds = time.perf_counter() - t
            conn.execute("ANALYZE catchments, catchment_tile_parts")
        parts = conn.execute(
            "SELECT count(*), coalesce(sum(npoints), 0) FROM catchment_tile_parts"
        ).fetchone()
    assert parts is not None
    return {
        "bands": int(bands),
        "vertices": int(vertices),
        "tile_parts": int(parts[0]),
        "tile_part_vertices": int(parts[1]),
        "insert_s": round(seconds, 1),
    }


def bump_version(conninfo: str) -> None:
    """A write that changes nothing served but moves the data version (cache invalidated)."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("UPDATE sites SET name = name WHERE id = (SELECT min(id) FROM sites)")


# --------------------------------------------------------------------------------------------
# Running


def _p95(values: list[float]) -> float | None:
    if len(values) < 2:
        return None
    return round(statistics.quantiles(values, n=100, method="inclusive")[94] * 1000, 2)


def check_reference(
    conninfo: str,
    ref: dict[str, tuple[int, str, bytes, dict[bytes, bytes]]],
    items: list[ItemsRequest],
) -> tuple[bool, dict[str, Any]]:
    """Items counts against SQL, tiles within the size limit; (ok, figures)."""
    ok = True
    for req in items:
        status, _, body, _ = ref[req.path]
        m = _NUMBER_RETURNED.search(body)
        got = int(m.group(1)) if m else -1
        want = expected_items(conninfo, req)
        if status != 200 or got != want:
            ok = False
            print(f"count mismatch {req.path}: {got} != {want}", file=sys.stderr)
    tiles = {p: v for p, v in ref.items() if "/tiles/" in p}
    bad = [p for p, v in tiles.items() if v[0] not in (200, 204)]
    for p in bad[:5]:
        print(f"tile {p}: status {tiles[p][0]} {tiles[p][2][:200]!r}", file=sys.stderr)
    biggest = max((len(v[2]) for v in tiles.values()), default=0)
    truncated = sum(1 for v in tiles.values() if b"tile-truncated" in v[3])
    ok = ok and not bad and biggest <= MAX_TILE_BYTES
    return ok, {"max_tile_bytes": biggest, "truncated_tiles": truncated}


def measure(
    args: argparse.Namespace,
    proc_pid: int,
    port: int,
    groups: Groups,
    reference: dict[str, tuple[int, str]],
    *,
    duration: float,
    seed: int,
    bump: tuple[str, float] | None = None,
) -> tuple[Stats, dict[str, Any]]:
    """One measured run; (stats, CPU and memory figures)."""
    rss: list[tuple[float, float]] = []
    last_bump = [0.0]

    def tick(t: float) -> None:
        if int(t) % 5 == 0 and (not rss or t - rss[-1][0] >= 4.5):
            rss.append((t, tree_rss_mb(proc_pid)))
        if bump is not None and t - last_bump[0] >= bump[1]:
            last_bump[0] = t
            bump_version(bump[0])

    load_before = round(os.getloadavg()[0], 2)
    cpu_server0 = tree_cpu(proc_pid)
    cpu_client0 = time.process_time()
    busy0 = machine_busy()
    wall0 = time.perf_counter()
    stats = asyncio.run(
        run_load(
            port,
            groups,
            reference,
            clients=args.clients,
            think_s=args.think_ms / 1000.0,
            warmup_s=args.warmup,
            duration_s=duration,
            seed=seed,
            tick=tick,
        )
    )
    wall = time.perf_counter() - wall0
    share = duration / wall  # CPU over the measured share of the run
    figures: dict[str, Any] = {
        "client_cpu_s": round((time.process_time() - cpu_client0) * share, 1),
        "server_cpu_s": round((tree_cpu(proc_pid) - cpu_server0) * share, 1),
        "loadavg_1m_before": load_before,
        "loadavg_1m_after": round(os.getloadavg()[0], 2),
        "rss_mb": round(tree_rss_mb(proc_pid), 1),
    }
    busy = machine_busy() - busy0
    figures["other_cpu_s"] = round(
        busy * share - figures["client_cpu_s"] - figures["server_cpu_s"], 1
    )
    if bump is not None and rss:
        first = [m for t, m in rss if t <= 60.0]
        last = [m for t, m in rss if t >= duration - 60.0]
        a, b = statistics.median(first), statistics.median(last)
        figures.update(
            rss_mb_first=round(a, 1),
            rss_mb_last=round(b, 1),
            rss_mb_max=round(max(m for _, m in rss), 1),
            rss_growth_pct=round(100 * (b - a) / a, 1),
            memory_flat=b <= max(a * 1.10, a + 16.0),
            rss_samples=len(rss),
            rss_mb_by_minute=[
                round(statistics.median([m for t, m in rss if k * 60 <= t < (k + 1) * 60]), 1)
                for k in range(int(duration // 60))
                if any(k * 60 <= t < (k + 1) * 60 for t, _ in rss)
            ],
            version_bumps=int(duration // bump[1]),
        )
    return stats, figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=20.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=3.0, help="unrecorded seconds first")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--think-ms", type=float, default=100.0, help="mean think time")
    parser.add_argument(
        "--engines",
        default="1,2,2-nocache",
        help="server set-ups to compare: uvicorn worker count, '-nocache' for no response cache",
    )
    parser.add_argument("--pool-max", type=int, help="LOCUS_DATABASE_POOL_MAX_SIZE per worker")
    parser.add_argument(
        "--workloads",
        default="items-100,items-100-full,tiles-z8-14,catchments-tiles,catchments-mixed",
        help="comma-separated; 'soak' runs --soak-duration seconds",
    )
    parser.add_argument("--soak-duration", type=float, default=600.0)
    parser.add_argument("--soak-bump-s", type=float, default=60.0)
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for the server")
    parser.add_argument("--database-url", help="reuse this loaded database (kept)")
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--save-reference", type=Path, help="write reference digests (JSON)")
    parser.add_argument("--check-reference", type=Path, help="compare with saved digests")
    args = parser.parse_args()

    own_db = args.database_url is None
    t = time.perf_counter()
    url = args.database_url or prepare_database(args.data_dir)
    conninfo = url.replace("postgresql+psycopg://", "postgresql://", 1)
    print(f"database ready in {time.perf_counter() - t:.0f} s", file=sys.stderr)

    workloads, items_by_workload = build_workloads()
    chosen = [w for w in args.workloads.split(",") if w]
    unknown = [w for w in chosen if w not in workloads]
    if unknown:
        parser.error(f"unknown workloads {unknown}; choose from {', '.join(workloads)}")
    rows: list[dict[str, Any]] = []
    try:
        stored: dict[str, Any] = {}
        if CATCHMENT_WORKLOADS & set(chosen):
            stored = ensure_stored_catchments(conninfo)
            print(f"stored catchments: {json.dumps(stored)}", file=sys.stderr)
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute("ANALYZE")
        saved: dict[str, str] = {}
        for spec in args.engines.split(","):
            workers = int(spec.split("-")[0])
            nocache = spec.endswith("-nocache")
            extra_env = {"LOCUS_TILE_CACHE_MB": "0"} if nocache else {}
            if args.pool_max:
                extra_env["LOCUS_DATABASE_POOL_MAX_SIZE"] = str(args.pool_max)
            extra_env.update(dict(e.split("=", 1) for e in args.env))
            engine_name = f"uvicorn-{workers}-worker{'s' if workers > 1 else ''}"
            engine_name += "-no-cache" if nocache else ""
            port = free_port()
            proc = start_server(url, workers, port, extra_env)
            try:
                all_paths = [p for w in chosen for g in workloads[w].values() for p in g]
                t = time.perf_counter()
                ref = asyncio.run(fetch_reference(port, all_paths))
                print(
                    f"reference pass: {len(ref)} URLs in {time.perf_counter() - t:.0f} s",
                    file=sys.stderr,
                )
                reference = {p: (v[0], v[1]) for p, v in ref.items()}
                saved.update({p: f"{v[0]}:{v[1]}" for p, v in ref.items()})
                checked_items = [r for w in chosen for r in items_by_workload.get(w, [])]
                ref_ok, ref_figures = check_reference(conninfo, ref, checked_items)
                if args.check_reference:
                    old = json.loads(args.check_reference.read_text())
                    diff = [p for p in saved if p in old and old[p] != saved[p]]
                    print(f"reference check: {len(diff)} differ", file=sys.stderr)
                    for p in diff[:10]:
                        print(f"  differs: {p}", file=sys.stderr)
                    ref_ok = ref_ok and not diff
                for i, workload in enumerate(chosen):
                    groups = workloads[workload]
                    soak = workload == "soak"
                    duration = args.soak_duration if soak else args.duration
                    stats, figures = measure(
                        args,
                        proc.pid,
                        port,
                        groups,
                        reference,
                        duration=duration,
                        seed=i + 1,
                        bump=(conninfo, args.soak_bump_s) if soak else None,
                    )
                    lat = sorted(stats.latencies)
                    q = statistics.quantiles(lat, n=100, method="inclusive")
                    tiles = [
                        v for g, vs in stats.by_group.items() if g.startswith("tiles") for v in vs
                    ]
                    item_lat = [
                        v for g, vs in stats.by_group.items() if g.startswith("items") for v in vs
                    ]
                    row = {
                        "workload": workload,
                        "engine": engine_name,
                        "seconds": round(statistics.median(lat), 5),
                        "equal": stats.errors == 0 and ref_ok,
                        "p50_ms": round(q[49] * 1000, 2),
                        "p95_ms": round(q[94] * 1000, 2),
                        "p99_ms": round(q[98] * 1000, 2),
                        "tiles_p95_ms": _p95(tiles),
                        "items_p95_ms": _p95(item_lat),
                        "requests": len(lat),
                        "errors": stats.errors,
                        "rps": round(len(lat) / duration, 1),
                        "clients": args.clients,
                        "think_ms": args.think_ms,
                        "duration_s": duration,
                        **figures,
                        "distinct_urls": len({p for g in groups.values() for p in g}),
                        **ref_figures,
                    }
                    if workload in CATCHMENT_WORKLOADS:
                        row["stored_catchments"] = stored
                    rows.append(row)
                    print(json.dumps(row), file=sys.stderr)
                    for sample in stats.error_samples:
                        print(f"  error: {sample}", file=sys.stderr)
            finally:
                stop_server(proc)
        if args.save_reference:
            args.save_reference.write_text(json.dumps(saved, indent=0, sort_keys=True))
    finally:
        if own_db:
            from config.settings import load_settings
            from store.admin import drop_database

            drop_database(load_settings().with_database(url).database)
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
