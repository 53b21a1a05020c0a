"""The load generator of ``bench/api_load.py``: a keep-alive HTTP/1.1 client on asyncio
streams, closed-loop clients, the uvicorn server process, and CPU and memory of processes
read from ``/proc`` (Linux), so the bench needs nothing beyond the standard library here.

The client is minimal on purpose: the load generator shares two cores with uvicorn and
PostgreSQL, and every cycle it spends is one the server does not get.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
_CLK_TCK = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


class HttpError(Exception):
    """A response the reader could not use."""


async def http_get(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str, path: str
) -> tuple[int, bytes, dict[bytes, bytes]]:
    """GET ``path`` on an open connection: (status, body, headers with lower-case names).

    Needs Content-Length responses (uvicorn sends them for every route of the API).
    """
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: */*\r\n\r\n".encode())
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    headers: dict[bytes, bytes] = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name:
            headers[name.strip().lower()] = value.strip()
    if b"transfer-encoding" in headers:
        raise HttpError("chunked responses are not expected")
    length = headers.get(b"content-length")
    if length is None:
        if status in (204, 304):
            return status, b"", headers
        raise HttpError("no Content-Length")
    n = int(length)
    body = await reader.readexactly(n) if n else b""
    return status, body, headers


def body_digest(path: str, body: bytes) -> str:
    """SHA-256 of the part of a response that must not change between identical requests."""
    if "/items" in path:
        start = body.find(b'"features":')
        body = body[start:] if start >= 0 else body
    return hashlib.sha256(body).hexdigest()


@dataclass
class Stats:
    """Latencies (seconds) per request group and errors of one measured run."""

    latencies: list[float] = field(default_factory=list)
    by_group: dict[str, list[float]] = field(default_factory=dict)
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)

    def error(self, message: str) -> None:
        self.errors += 1
        if len(self.error_samples) < 5:
            self.error_samples.append(message)


#: A workload: named groups of paths; a request picks a group, then a path of it, uniformly.
Groups = dict[str, list[str]]


async def run_load(
    port: int,
    groups: Groups,
    reference: dict[str, tuple[int, str]],
    *,
    clients: int,
    think_s: float,
    warmup_s: float,
    duration_s: float,
    seed: int,
    tick: Callable[[float], None] | None = None,
) -> Stats:
    """``clients`` closed-loop clients for warm-up + duration; only the duration is recorded.

    Every response must have the reference status and body digest (else it counts as an
    error). ``tick`` is called about once a second with the seconds since recording began
    (the soak samples memory there).
    """
    stats = Stats()
    t_start = time.perf_counter()
    t_record = t_start + warmup_s
    t_end = t_record + duration_s
    host = f"127.0.0.1:{port}"
    names = sorted(groups)

    async def client(i: int) -> None:
        rng = random.Random(seed * 1000 + i)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while True:
                if time.perf_counter() >= t_end:
                    return
                group = rng.choice(names)
                path = rng.choice(groups[group])
                t0 = time.perf_counter()
                try:
                    status, body, _ = await http_get(reader, writer, host, path)
                except (OSError, asyncio.IncompleteReadError, HttpError, ValueError) as exc:
                    if t0 >= t_record:
                        stats.error(f"{path}: {exc!r}")
                    writer.close()
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                    continue
                t1 = time.perf_counter()
                if t0 >= t_record and t1 <= t_end:
                    stats.latencies.append(t1 - t0)
                    stats.by_group.setdefault(group, []).append(t1 - t0)
                    want = reference[path]
                    if status not in (200, 204) or status != want[0]:
                        detail = body[:200].decode(errors="replace") if status >= 400 else ""
                        stats.error(f"{path}: status {status}, reference {want[0]} {detail}")
                    elif body_digest(path, body) != want[1]:
                        stats.error(f"{path}: body differs from the reference")
                if think_s > 0:
                    await asyncio.sleep(rng.uniform(0.0, 2.0 * think_s))
        finally:
            writer.close()

    async def ticker() -> None:
        while time.perf_counter() < t_end:
            await asyncio.sleep(1.0)
            now = time.perf_counter()
            if tick is not None and now >= t_record:
                tick(now - t_record)

    await asyncio.gather(ticker(), *(client(i) for i in range(clients)))
    return stats


async def fetch_reference(
    port: int, paths: list[str]
) -> dict[str, tuple[int, str, bytes, dict[bytes, bytes]]]:
    """Every distinct path once, one at a time: (status, digest, body, headers)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    out = {}
    try:
        for path in sorted(set(paths)):
            status, body, headers = await http_get(reader, writer, f"127.0.0.1:{port}", path)
            out[path] = (status, body_digest(path, body), body, headers)
    finally:
        writer.close()
    return out


# --------------------------------------------------------------------------------------------
# The server process


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(
    database_url: str, workers: int, port: int, extra_env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """uvicorn serving ``app.main:app`` on ``port``, returned once ``/readyz`` answers 200."""
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
    stop_server(proc)
    raise RuntimeError("uvicorn did not become ready")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# --------------------------------------------------------------------------------------------
# CPU and memory from /proc


def _stat_fields(pid: int) -> list[str]:
    raw = Path(f"/proc/{pid}/stat").read_text()
    # The command name (field 2) may hold spaces; everything after its ')' is space-separated.
    return raw[raw.rindex(")") + 2 :].split()


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (uvicorn's master and its workers)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            ppid = int(_stat_fields(int(entry))[1])
        except (OSError, ValueError, IndexError):
            continue
        parents.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(parents.get(p, []))
    return out


def tree_cpu(pid: int) -> float:
    """User + system CPU seconds of a process and its descendants."""
    total = 0.0
    for p in process_tree(pid):
        try:
            fields = _stat_fields(p)
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / _CLK_TCK
    return total


def tree_rss_mb(pid: int) -> float:
    """Resident memory (MB) of a process and its descendants."""
    total = 0
    for p in process_tree(pid):
        try:
            total += int(Path(f"/proc/{p}/statm").read_text().split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return total * _PAGE / 2**20


def machine_busy() -> float:
    """CPU seconds the whole machine spent not idle (``/proc/stat``)."""
    first = Path("/proc/stat").read_text().splitlines()[0].split()
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in first[1:9])
    return (user + nice + system + irq + softirq + steal) / _CLK_TCK
