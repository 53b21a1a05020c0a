"""Benchmark: the map API under 50 concurrent clients on loopback (items pages and tiles).

Set-up (not timed): a throwaway database ``locus_bench_api_<random>`` is created, migrated
to head and loaded with the Rutland demo bundle (:func:`app.demo.load_demo`); then uvicorn
serves ``app.main:app`` from a subprocess on a free loopback port, once with 1 worker and
once with 2 (the "engines"). The database is dropped at the end.

Workloads (each: a short warm-up, then ``--duration`` seconds measured):

* ``items-100``: ``/collections/{sites,areas}/items?limit=100`` pages with varied bbox
  (CRS84 halves and quadrants of Rutland, two BNG boxes, none); Rutland has 37 located
  sites and 54 areas, so each page holds all the matching features (up to 54 polygons);
* ``items-100-full``: the same for postcodes and network edges at offsets 0-2000, pages
  that hold 100 features (the brief's "pages of 100 features" taken literally);
* ``tiles-z8-14``: ``/collections/{areas,sites,network_edges}/tiles/WebMercatorQuad/z/x/y``
  for every tile covering Rutland at zooms 8-14 (network edges from their minimum zoom 11).

Load model: exactly ``--clients`` (50) closed-loop clients, each with one keep-alive
connection; a client sends a request, reads the whole response, waits a think time drawn
uniformly from ``[0, 2 × --think-ms]`` and sends the next (``--think-ms 0`` is a saturation
test: latency is then queueing, ``clients / throughput``). Each request is drawn with a
seeded RNG: a group uniformly (a zoom level for tiles, a collection for items), then a URL of
that group uniformly (so low zooms, with their large tiles, are as frequent as zoom 14).
The client is a minimal HTTP/1.1 reader on asyncio streams,
written here so the load generator spends as little as possible of the two cores it shares
with uvicorn and PostgreSQL; its CPU time is reported (``client_cpu_s``) next to the
server's (``server_cpu_s``: uvicorn processes) and the rest of the machine
(``other_cpu_s``: PostgreSQL and anything else running, e.g. other people's jobs on a
shared machine; ``loadavg_1m_before`` says how busy it was).

Tile cache: with the default ``LOCUS_TILE_CACHE_MB`` the reference pass has rendered every
tile once, so the timed run of ``tiles-z8-14`` is served from the server's warm cache (what a
tile server does between data loads); items pages likewise. The ``-nocache`` engine
(``LOCUS_TILE_CACHE_MB=0``) renders every tile and every page from the database.

Correctness: before the load, every distinct URL is fetched once (one at a time) as the
reference: its status and a SHA-256 of its body (for items, of the ``features`` array only,
since ``timeStamp`` changes). For items pages the expected ``numberReturned`` is also
computed independently in SQL over the base tables and must equal the reference. During the
load every response must have the reference status and hash; anything else (or a
connection error, or a status other than 200/204) is an error. ``equal`` is true when there
were no errors and every reference matched its SQL count.

Output rows: ``seconds`` is the median latency; ``p50_ms``, ``p95_ms``, ``p99_ms``,
``requests``, ``errors``, ``rps`` (completed requests per second), CPU seconds of client,
server and other processes over the measured window.

Usage: ``.venv/bin/python bench/api_load.py [--duration 20] [--clients 50] [--think-ms 100]
[--engines 1,2,2-nocache] [--database-url URL (reuse a loaded database, kept)]``
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import math
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import psycopg

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

# Rutland (E06000017) in lon/lat, a little generous.
RUTLAND = (-0.83, 52.52, -0.42, 52.77)
TILE_LAYERS = (("areas", 8), ("sites", 8), ("network_edges", 11))
ZOOMS = range(8, 15)
_NUMBER_RETURNED = re.compile(rb'"numberReturned":\s*(\d+)')


# --------------------------------------------------------------------------------------------
# Workloads


def _tile_xy(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    x = int((lon + 180.0) / 360.0 * n)
    y = int((1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n)
    return x, y


def tile_paths() -> list[list[str]]:
    """Every tile over Rutland at zooms 8-14 for each layer (from its minimum zoom), by zoom."""
    paths: dict[int, list[str]] = {z: [] for z in ZOOMS}
    for layer, minzoom in TILE_LAYERS:
        for z in ZOOMS:
            if z < minzoom:
                continue
            x0, y0 = _tile_xy(RUTLAND[0], RUTLAND[3], z)
            x1, y1 = _tile_xy(RUTLAND[2], RUTLAND[1], z)
            for x in range(x0, x1 + 1):
                for y in range(y0, y1 + 1):
                    paths[z].append(f"/collections/{layer}/tiles/WebMercatorQuad/{z}/{x}/{y}")
    return list(paths.values())


@dataclass(frozen=True)
class ItemsRequest:
    """One items page: the URL path and what it asks for (to count independently in SQL)."""

    path: str
    collection: str
    offset: int
    bbox: tuple[float, float, float, float] | None
    bbox_srid: int


#: Items pages per collection: sites (37 located in Rutland) and areas (54) fit on one page;
#: postcodes (1,026) and network edges (27,033) give full pages of 100.
COLLECTION_OFFSETS = {
    "sites": (0,),
    "areas": (0,),
    "postcodes": (0, 100, 300, 500),
    "network_edges": (0, 500, 2000),
}


def items_requests(collections: tuple[str, ...]) -> list[ItemsRequest]:
    """Pages of 100 features of ``collections`` with varied bboxes and offsets."""
    w, s, e, n = RUTLAND
    boxes: list[tuple[tuple[float, float, float, float] | None, int]] = [(None, 4326)]
    # Halves and quadrants of Rutland in CRS84, and two BNG boxes (Oakham, Uppingham).
    mx, my = (w + e) / 2, (s + n) / 2
    boxes += [
        ((w, s, mx, n), 4326),
        ((mx, s, e, n), 4326),
        ((w, my, e, n), 4326),
        ((w, s, e, my), 4326),
        ((w, s, mx, my), 4326),
        ((mx, my, e, n), 4326),
        ((480000.0, 304000.0, 490000.0, 314000.0), 27700),
        ((482000.0, 294000.0, 492000.0, 304000.0), 27700),
    ]
    out = []
    for collection in collections:
        offsets = COLLECTION_OFFSETS[collection]
        for bbox, srid in boxes:
            for offset in offsets:
                query = f"limit=100&offset={offset}"
                if bbox is not None:
                    query += "&bbox=" + ",".join(f"{v:g}" for v in bbox)
                    if srid == 27700:
                        query += "&bbox-crs=http://www.opengis.net/def/crs/EPSG/0/27700"
                out.append(
                    ItemsRequest(
                        f"/collections/{collection}/items?{query}", collection, offset, bbox, srid
                    )
                )
    return out


def expected_items(conninfo: str, req: ItemsRequest) -> int:
    """numberReturned computed over the base tables (not through the API's SQL)."""
    table, where = {
        "sites": ("sites", "geom IS NOT NULL AND NOT restricted"),
        "areas": ("areas", "TRUE"),
        "postcodes": ("postcodes", "TRUE"),
        "network_edges": ("network_edges", "TRUE"),
    }[req.collection]
    params: list[Any] = []
    if req.bbox is not None:
        if req.bbox_srid == 4326:
            env = "ST_Transform(ST_Segmentize(ST_MakeEnvelope(%s,%s,%s,%s,4326), %s), 27700)"
            params = [*req.bbox, max(req.bbox[2] - req.bbox[0], req.bbox[3] - req.bbox[1]) / 32]
        else:
            env = "ST_MakeEnvelope(%s,%s,%s,%s,27700)"
            params = list(req.bbox)
        where += f" AND ST_Intersects(geom, {env})"
    with psycopg.connect(conninfo) as conn:
        # Fixed table names and predicates from this file; the bbox values are bound.
        query = f"SELECT count(*) FROM {table} WHERE {where}"  # noqa: S608
        row = conn.execute(query, params).fetchone()
    assert row is not None
    return max(0, min(100, int(row[0]) - req.offset))


# --------------------------------------------------------------------------------------------
# A minimal keep-alive HTTP/1.1 client


class HttpError(Exception):
    """A response the reader could not use."""


async def http_get(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str, path: str
) -> tuple[int, bytes]:
    """GET ``path`` on an open connection; (status, body). Needs Content-Length responses."""
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: */*\r\n\r\n".encode())
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length = None
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
        elif name.strip().lower() == b"transfer-encoding":
            raise HttpError("chunked responses are not expected")
    if length is None:
        if status in (204, 304):
            return status, b""
        raise HttpError("no Content-Length")
    body = await reader.readexactly(length) if length else b""
    return status, body


def body_digest(path: str, body: bytes) -> str:
    """SHA-256 of the part of a response that must not change between identical requests."""
    if "/items" in path:
        start = body.find(b'"features":')
        body = body[start:] if start >= 0 else body
    return hashlib.sha256(body).hexdigest()


@dataclass
class Stats:
    """Latencies (seconds) and errors of one measured run."""

    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)

    def error(self, message: str) -> None:
        self.errors += 1
        if len(self.error_samples) < 5:
            self.error_samples.append(message)


async def run_load(
    port: int,
    groups: list[list[str]],
    reference: dict[str, tuple[int, str]],
    *,
    clients: int,
    think_s: float,
    warmup_s: float,
    duration_s: float,
    seed: int,
) -> Stats:
    """``clients`` closed-loop clients for warm-up + duration; only the duration is recorded."""
    stats = Stats()
    t_start = time.perf_counter()
    t_record = t_start + warmup_s
    t_end = t_record + duration_s
    host = f"127.0.0.1:{port}"

    async def client(i: int) -> None:
        rng = random.Random(seed * 1000 + i)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while True:
                now = time.perf_counter()
                if now >= t_end:
                    return
                path = rng.choice(rng.choice(groups))
                t0 = time.perf_counter()
                try:
                    status, body = await http_get(reader, writer, host, path)
                except (OSError, asyncio.IncompleteReadError, HttpError, ValueError) as exc:
                    if t0 >= t_record:
                        stats.error(f"{path}: {exc!r}")
                    writer.close()
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                    continue
                t1 = time.perf_counter()
                if t0 >= t_record and t1 <= t_end:
                    stats.latencies.append(t1 - t0)
                    want = reference[path]
                    if status not in (200, 204) or status != want[0]:
                        stats.error(f"{path}: status {status}, reference {want[0]}")
                    elif body_digest(path, body) != want[1]:
                        stats.error(f"{path}: body differs from the reference")
                if think_s > 0:
                    await asyncio.sleep(rng.uniform(0.0, 2.0 * think_s))
        finally:
            writer.close()

    await asyncio.gather(*(client(i) for i in range(clients)))
    return stats


async def fetch_reference(port: int, paths: list[str]) -> dict[str, tuple[int, str, bytes]]:
    """Every distinct path once, one at a time: (status, digest, body)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    out = {}
    try:
        for path in sorted(set(paths)):
            status, body = await http_get(reader, writer, f"127.0.0.1:{port}", path)
            out[path] = (status, body_digest(path, body), body)
    finally:
        writer.close()
    return out


# --------------------------------------------------------------------------------------------
# Server process and CPU accounting


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(
    database_url: str, workers: int, port: int, extra_env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    env = dict(os.environ, LOCUS_DATABASE_URL=database_url, **(extra_env or {}))
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        "app.main:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    proc = subprocess.Popen(cmd, cwd=REPO, env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"uvicorn exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                s.sendall(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                if s.recv(64).startswith(b"HTTP/1.1 200"):
                    # With several workers, every worker must have started: give them a moment.
                    time.sleep(1.0 if workers > 1 else 0.2)
                    return proc
        except OSError:
            pass
        time.sleep(0.2)
    proc.terminate()
    raise RuntimeError("uvicorn did not become ready")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def tree_cpu(pid: int) -> float:
    """User + system CPU seconds of a process and its children (the uvicorn workers)."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


def machine_busy() -> float:
    """CPU seconds the whole machine spent not idle."""
    t = psutil.cpu_times()
    return float(t.user + t.nice + t.system + t.irq + t.softirq + getattr(t, "steal", 0.0))


# --------------------------------------------------------------------------------------------


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=20.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=3.0, help="unrecorded seconds first")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--think-ms", type=float, default=100.0, help="mean think time")
    parser.add_argument(
        "--engines",
        default="1,2,2-nocache",
        help="server set-ups to compare: uvicorn worker count, '-nocache' for no response cache"
        " (those run the tile workload only)",
    )
    parser.add_argument("--pool-max", type=int, help="LOCUS_POOL_MAX_SIZE per worker")
    parser.add_argument("--workloads", default="items-100,items-100-full,tiles-z8-14")
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

    items_by_workload = {
        "items-100": items_requests(("sites", "areas")),
        "items-100-full": items_requests(("postcodes", "network_edges")),
    }
    workloads = {
        **{
            w: [[r.path for r in reqs if r.collection == c] for c in {r.collection for r in reqs}]
            for w, reqs in items_by_workload.items()
        },
        "tiles-z8-14": tile_paths(),
    }
    chosen = [w for w in args.workloads.split(",") if w]
    rows: list[dict[str, Any]] = []
    try:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute("ANALYZE")
        counts_ok = True
        saved: dict[str, str] = {}
        for spec in args.engines.split(","):
            workers = int(spec.split("-")[0])
            nocache = spec.endswith("-nocache")
            extra_env = {"LOCUS_TILE_CACHE_MB": "0"} if nocache else {}
            if args.pool_max:
                extra_env["LOCUS_POOL_MAX_SIZE"] = str(args.pool_max)
            engine_name = f"uvicorn-{workers}-worker{'s' if workers > 1 else ''}"
            engine_name += "-no-cache" if nocache else ""
            spec_workloads = chosen
            port = free_port()
            proc = start_server(url, workers, port, extra_env)
            try:
                all_paths = [p for w in spec_workloads for g in workloads[w] for p in g]
                ref = asyncio.run(fetch_reference(port, all_paths))
                reference = {p: (v[0], v[1]) for p, v in ref.items()}
                saved.update({p: f"{v[0]}:{v[1]}" for p, v in ref.items()})
                for req in (r for w in spec_workloads for r in items_by_workload.get(w, [])):
                    status, _, body = ref[req.path]
                    m = _NUMBER_RETURNED.search(body)
                    got = int(m.group(1)) if m else -1
                    want = expected_items(conninfo, req)
                    if status != 200 or got != want:
                        counts_ok = False
                        print(f"count mismatch {req.path}: {got} != {want}", file=sys.stderr)
                if args.check_reference:
                    old = json.loads(args.check_reference.read_text())
                    diff = [p for p in saved if p in old and old[p] != saved[p]]
                    print(f"reference check: {len(diff)} differ", file=sys.stderr)
                    for p in diff[:10]:
                        print(f"  differs: {p}", file=sys.stderr)
                    counts_ok = counts_ok and not diff
                for i, workload in enumerate(spec_workloads):
                    groups = workloads[workload]
                    load_before = round(os.getloadavg()[0], 2)
                    cpu_server0 = tree_cpu(proc.pid)
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
                            duration_s=args.duration,
                            seed=i + 1,
                        )
                    )
                    wall = time.perf_counter() - wall0
                    server_cpu = tree_cpu(proc.pid) - cpu_server0
                    client_cpu = time.process_time() - cpu_client0
                    busy = machine_busy() - busy0
                    lat = sorted(stats.latencies)
                    q = statistics.quantiles(lat, n=100, method="inclusive")
                    share = args.duration / wall  # CPU over the measured share of the run
                    row = {
                        "workload": workload,
                        "engine": engine_name,
                        "seconds": round(statistics.median(lat), 5),
                        "equal": stats.errors == 0 and counts_ok,
                        "p50_ms": round(q[49] * 1000, 2),
                        "p95_ms": round(q[94] * 1000, 2),
                        "p99_ms": round(q[98] * 1000, 2),
                        "requests": len(lat),
                        "errors": stats.errors,
                        "rps": round(len(lat) / args.duration, 1),
                        "clients": args.clients,
                        "think_ms": args.think_ms,
                        "client_cpu_s": round(client_cpu * share, 1),
                        "server_cpu_s": round(server_cpu * share, 1),
                        "other_cpu_s": round((busy - client_cpu - server_cpu) * share, 1),
                        "distinct_urls": sum(len(g) for g in groups),
                        "loadavg_1m_before": load_before,
                    }
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
