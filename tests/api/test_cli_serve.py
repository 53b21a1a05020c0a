"""`locus serve --with-worker` stops its job worker when it is terminated (SIGTERM).

Before: uvicorn re-raised SIGTERM after its graceful shutdown with Python's default handler,
so the serve process died without running its cleanup and the worker ran on, holding
connections that kept its database from being dropped (the browser tests' teardown failed
with "database … is being accessed by other users").
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _children(pid: int) -> list[tuple[int, str]]:
    """(pid, command line) of the live processes whose parent is ``pid``."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid:
            out.append((int(entry.name), cmd))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_sigterm_stops_the_job_worker(db_url: str) -> None:
    port = _free_port()
    env = {**os.environ, "LOCUS_DATABASE_URL": db_url}
    cmd = [sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen(
        [*cmd, "--with-worker"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    workers: list[tuple[int, str]] = []
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, f"serve exited with {proc.returncode}"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "serve did not start in 60 s"
            time.sleep(0.2)
        workers = [c for c in _children(proc.pid) if c[1].endswith("app.cli worker")]
        assert len(workers) == 1, _children(proc.pid)

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 128 + signal.SIGTERM
        worker_pid = workers[0][0]
        deadline = time.monotonic() + 5
        while _alive(worker_pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(worker_pid), "the job worker outlived `serve`"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pid, _ in workers:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
