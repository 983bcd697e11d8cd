"""Browser tests of the web app: Playwright (Python) driving Debian's Chromium against the real
server (`visionflow app --no-browser` in a subprocess) over a workspace made from a real
../shared dataset. Skipped, with the reason, when /usr/bin/chromium, the Python `playwright`
package, the built front end (`make web`) or the dataset is absent. Never `playwright install`:
the browser is the system's.

Screenshots of every page go to $VISIONFLOW_SCREENSHOTS (else the test's tmp_path)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import orjson
import pytest

from ...conftest import REPO, shared_path

CHROMIUM = Path("/usr/bin/chromium")
STATIC = REPO / "src" / "visionflow" / "app" / "static" / "index.html"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
START_TIMEOUT_S = 90


@pytest.fixture(scope="module")  # not session: its event loop must not outlive the module
def chromium_browser():
    """One Chromium for the session (Playwright's sync API, system browser)."""
    if not CHROMIUM.is_file():
        pytest.skip(f"browser tests need Debian's chromium: {CHROMIUM} is absent "
                    "(apt-get install chromium)")
    if not STATIC.is_file():
        pytest.skip(f"the front end is not built ({STATIC} is absent): run `make web`")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("browser tests need the Python package playwright (pip install playwright)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield browser
        browser.close()


@pytest.fixture
def shots(tmp_path, request) -> Path:
    """Where this test's screenshots go."""
    root = os.environ.get("VISIONFLOW_SCREENSHOTS")
    folder = Path(root) / request.node.name if root else tmp_path / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def raccoon_workspace(tmp_path) -> Path:
    """A workspace whose source `raccoon` is ../shared's raccoon dataset (Pascal VOC, 200
    images), revision 1."""
    src = shared_path("raccoon")
    from visionflow.versioning.workspace import Workspace
    ws = tmp_path / "ws"
    with Workspace.init(ws) as w:
        w.add(src, name="raccoon", format="voc")
    return ws


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url: str):
    with urllib.request.urlopen(url, timeout=30) as r:
        return orjson.loads(r.read())


class Server:
    """`visionflow app PATH --no-browser` on a free port, until stopped."""

    def __init__(self, path: Path, log: Path, extra: list[str] = (), *, full: bool = True):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
        self.log = log
        self._out = open(log, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "visionflow", "app", str(path), "--no-browser",
             "--port", str(self.port), *extra],
            stdout=self._out, stderr=subprocess.STDOUT, env=env, cwd=str(path.parent))
        try:
            self.meta = self.wait_ready(full)
        except BaseException:
            self.stop()
            raise

    def wait_ready(self, full: bool = True) -> dict:
        """/api/meta once it answers; with `full`, once the full dataset is loaded and
        `check` has run."""
        end = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise AssertionError(f"the server exited ({self.proc.returncode}): "
                                     f"{self.log.read_text(errors='replace')[-2000:]}")
            try:
                meta = get_json(self.url + "/api/meta")
                if not full or (meta.get("loaded", True) and meta.get("findings_ready")):
                    return meta
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"the server did not get ready in {START_TIMEOUT_S} s: "
                             f"{self.log.read_text(errors='replace')[-2000:]}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self._out.close()


@pytest.fixture
def start_server(tmp_path):
    """start_server(path, *extra_args) -> a running Server, stopped after the test."""
    started: list[Server] = []

    def start(path: Path, *extra: str) -> Server:
        s = Server(path, tmp_path / f"server-{len(started)}.log", list(extra))
        started.append(s)
        return s

    yield start
    for s in started:
        s.stop()


@pytest.fixture
def page(chromium_browser):
    """A fresh browser context and page; JavaScript errors fail the test."""
    context = chromium_browser.new_context(viewport={"width": 1400, "height": 900},
                                           accept_downloads=True)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.errors = errors
    yield pg
    context.close()
    assert not errors, f"JavaScript errors in the page: {errors}"
