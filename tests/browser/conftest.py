"""Browser fixtures: the live demo server, headless Debian chromium, a page that records errors.

``live_server_url`` runs ``uvicorn app.main:app`` in a subprocess on a free loopback port with
``LOCUS_DATABASE_URL`` set to the Rutland demo database (``rutland_db_url``). The browser is
Debian's ``chromium`` (never a Playwright download), launched headless with the flags the
issue names. Every page records console errors, uncaught exceptions and failed HTTP responses so
each test can assert there were none. Screenshots go to ``test-artifacts/browser/``.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Playwright, Response, sync_playwright

REPO = Path(__file__).resolve().parents[2]
DIST_INDEX = REPO / "app" / "web" / "dist" / "index.html"
ARTIFACTS = REPO / "test-artifacts" / "browser"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SERVER_START_TIMEOUT_S = 60.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def live_server_url(rutland_db_url: str) -> Iterator[str]:
    """Base URL of ``uvicorn app.main:app`` serving the Rutland demo database and the built map."""
    if not DIST_INDEX.is_file():
        pytest.fail(
            "the web map is not built: run `make setup` (npm ci && npm run build in app/web)"
        )
    port = _free_port()
    # As `make demo` serves on loopback: a single user may run analyses without a key.
    env = {**os.environ, "LOCUS_DATABASE_URL": rutland_db_url, "LOCUS_ANONYMOUS_ROLE": "analyst"}
    log = (ARTIFACTS.parent / "live_server.log").resolve()
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        proc = subprocess.Popen(
            # As `make demo` serves it: the API and a job worker beside it.
            [
                sys.executable,
                "-m",
                "app.cli",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--with-worker",
            ],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the live server exited with {proc.returncode}; see {log}")
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the live server did not start in {SERVER_START_TIMEOUT_S:.0f} s")
            time.sleep(0.2)
        page = httpx.get(f"{url}/", headers={"Accept": "text/html"}, timeout=10)
        if 'id="map"' not in page.text:
            pytest.fail(
                "`/` does not serve the web map: include app.routers.web.router in app/main.py "
                "(before ogc.router)"
            )
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def api(live_server_url: str) -> Iterator[httpx.Client]:
    """An HTTP client on the live server, for fetching what the page should show."""
    with httpx.Client(base_url=live_server_url, timeout=60) as client:
        yield client


@pytest.fixture(scope="session")
def playwright_instance() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright_instance: Playwright) -> Iterator[Browser]:
    """Headless Debian chromium (``apt-get install chromium``), never a downloaded one."""
    exe = shutil.which("chromium")
    if exe is None:
        pytest.fail("chromium not found: `apt-get install chromium` (make setup does it)")
    b = playwright_instance.chromium.launch(executable_path=exe, headless=True, args=CHROMIUM_ARGS)
    yield b
    b.close()


@dataclass
class Recorder:
    """What went wrong on a page: console errors, uncaught exceptions, HTTP errors."""

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    http_errors: list[str] = field(default_factory=list)

    def problems(self) -> list[str]:
        return self.console_errors + self.page_errors + self.http_errors


@dataclass
class MapPage:
    """A page showing the web map, with its error recorder and helpers."""

    page: Page
    base_url: str
    recorder: Recorder
    name: str

    def open(self, path: str = "/") -> None:
        self.page.goto(self.base_url + path)
        self.page.wait_for_selector("body[data-map-ready=true]", timeout=30_000)
        self.idle()

    def idle(self) -> None:
        """Wait until the map has rendered every loaded tile and source (its `idle` event)."""
        self.page.evaluate(
            """() => new Promise((resolve) => {
                const m = window.locusMap;
                m.once('idle', () => resolve(true));
                m.triggerRepaint();
            })"""
        )

    def screenshot(self, label: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{self.name}-{label}.png"
        self.page.screenshot(path=str(path))
        return path

    def assert_no_errors(self) -> None:
        """No console errors, page exceptions, HTTP errors, or map errors (bad tile, style)."""
        assert self.recorder.problems() == []
        assert self.page.evaluate("window.locus.errors") == []


def _record(page: Page, recorder: Recorder) -> None:
    def on_console(msg: ConsoleMessage) -> None:
        if msg.type == "error":
            recorder.console_errors.append(msg.text)

    def on_response(res: Response) -> None:
        if res.status >= 400:
            recorder.http_errors.append(f"{res.status} {res.request.method} {res.url}")

    page.on("console", on_console)
    page.on("pageerror", lambda exc: recorder.page_errors.append(str(exc)))
    page.on("response", on_response)


@pytest.fixture
def map_page(
    browser: Browser, live_server_url: str, request: pytest.FixtureRequest
) -> Iterator[MapPage]:
    """A fresh 1366×768 page on the live server (resize it for phone-width tests)."""
    context = browser.new_context(viewport={"width": 1366, "height": 768}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(30_000)
    recorder = Recorder()
    _record(page, recorder)
    yield MapPage(page, live_server_url, recorder, request.node.name)
    context.close()
