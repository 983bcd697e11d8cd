"""The app itself: the front end served with the token injected, assets cached forever and
never outside static/, the "not built" page, errors as {"error"} with their status, and the
real `visionflow app` process (uvicorn on a free port) answering with its guard on."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

pytest.importorskip("fastapi")

from visionflow.app.server import ASSET_CACHE, create_app  # noqa: E402
from visionflow.app.state import AppState  # noqa: E402

from ..versioning.helpers import env, spawn  # noqa: E402
from .write_helpers import AUTH, BASE, TOKEN, close, make_workspace  # noqa: E402

INDEX = "<!doctype html><html><head><title>vf</title></head><body><div id=app></div></body></html>"


@pytest.fixture(scope="module")
def ws_path(tmp_path_factory):
    return make_workspace(tmp_path_factory.mktemp("srv"))


@pytest.fixture
def static(tmp_path):
    root = tmp_path / "static"
    (root / "assets").mkdir(parents=True)
    (root / "index.html").write_text(INDEX)
    (root / "assets" / "index-abc123.js").write_text("console.log(1)")
    (root / "favicon.svg").write_text("<svg/>")
    (tmp_path / "secret.txt").write_text("not for the web")
    return root


def _client(ws_path, static_dir):
    from fastapi.testclient import TestClient
    state = AppState.open(ws_path, background=False)
    return TestClient(create_app(state, token=TOKEN, static_dir=static_dir), base_url=BASE), state


def test_index_gets_the_token_and_is_not_cached(ws_path, static):
    client, state = _client(ws_path, static)
    try:
        for path in ("/", "/versions", "/image/3"):               # client-side routes too
            r = client.get(path)
            assert r.status_code == 200
            assert f'<meta name="visionflow-token" content="{TOKEN}">' in r.text
            assert r.text.index("visionflow-token") < r.text.index("</head>")
            assert r.headers["cache-control"] == "no-store"
    finally:
        close(state)


def test_assets_are_cached_forever_and_never_leave_static(ws_path, static):
    client, state = _client(ws_path, static)
    try:
        r = client.get("/assets/index-abc123.js")
        assert r.status_code == 200 and r.text == "console.log(1)"
        assert r.headers["cache-control"] == ASSET_CACHE
        assert client.get("/favicon.svg").text == "<svg/>"
        for path in ("/assets/../../secret.txt", "/assets/%2e%2e/%2e%2e/secret.txt",
                     "/assets/..%2f..%2fsecret.txt", "/assets/nope.js", "/assets/",
                     "/assets/%00"):
            r = client.get(path)
            assert r.status_code in (404, 200), path
            assert "not for the web" not in r.text
            if r.status_code == 200:                          # normalised to a page route
                assert "visionflow-token" in r.text
        r = client.get("/..%2fsecret.txt")
        assert "not for the web" not in r.text
    finally:
        close(state)


def test_without_a_built_front_end_a_clear_page(ws_path, tmp_path):
    client, state = _client(ws_path, tmp_path / "nothing")
    try:
        r = client.get("/")
        assert r.status_code == 503
        assert "front end not built" in r.text and "make web" in r.text
        assert client.get("/api/meta").status_code == 200          # the API still works
    finally:
        close(state)


def test_errors_are_one_json_line_with_their_status(ws_path, static):
    client, state = _client(ws_path, static)
    try:
        cases = [("get", "/api/nope", 404, "GET /api/nope: no such route"),
                 ("post", "/api/nope/../x", 404, "no such route"),
                 ("delete", "/api/meta", 404, "DELETE /api/meta: no such route"),
                 ("get", "/api/images/99", 404, "no such image"),
                 ("get", "/api/images/abc", 404, "not an image id"),
                 ("get", "/api/images/..%2f..%2fetc%2fpasswd/file", 404, ""),
                 ("get", "/api/versions/diff?a=x&b=y&limit=lots", 400, "limit"),
                 ("put", "/assets/x.js", 405, "PUT /assets/x.js: method not allowed"),
                 ("post", "/api/classes", 400, "base_revision")]
        for method, path, status, message in cases:
            r = client.request(method, path, headers=AUTH,
                               json={"rename": {"cat": "kitty"}} if method == "post" else None)
            assert r.status_code == status, (path, r.text)
            body = r.json()
            assert set(body) <= {"error", "where", "current_revision"}
            assert message in body["error"] and "\n" not in body["error"], body
            assert "Traceback" not in r.text
    finally:
        close(state)


# -- the real server ----------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_url(proc, timeout=60.0) -> str:
    """The URL `visionflow app` prints on stdout once it listens."""
    import queue
    import threading
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout], daemon=True).start()
    end = time.time() + timeout
    while time.time() < end:
        try:
            line = lines.get(timeout=0.2)
        except queue.Empty:
            if proc.poll() is not None:
                raise AssertionError(f"the server exited: {proc.stderr.read()}") from None
            continue
        m = re.search(r"http://\S+", line)
        if m:
            return m.group(0)
    raise AssertionError(f"no URL printed within {timeout}s")


def _stop(proc) -> str:
    """Ctrl-C: the server stops cleanly (exit 0, "stopped"); its stderr."""
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    err = proc.stderr.read()
    assert proc.returncode == 0, err
    assert err.rstrip().endswith("stopped")
    return err


def test_the_real_server_on_localhost(ws_path):
    port = _free_port()
    proc = spawn("app", ws_path, "--port", port, "--no-browser")
    try:
        url = _wait_url(proc)
        assert url == f"http://127.0.0.1:{port}/"
        meta = httpx.get(url + "api/meta", timeout=10).json()
        assert meta["revision"] == "pets@1" and meta["kind"] == "workspace"
        r = httpx.post(url + "api/save", json={}, timeout=10)
        assert r.status_code == 403
        r = httpx.get(url + "api/meta", headers={"host": "evil.example"}, timeout=10)
        assert r.status_code == 403
        page = httpx.get(url, timeout=10)
        token = re.search(r'name="visionflow-token" content="([^"]+)"', page.text)
        if token is None:                                       # front end not built here
            assert page.status_code == 503 and "make web" in page.text
        else:
            r = httpx.post(url + "api/save", json={}, timeout=10,
                           headers={"X-Visionflow-Token": token.group(1)})
            assert r.status_code == 400 and "base_revision" in r.json()["error"]
    finally:
        err = _stop(proc)
    assert f"ssh -L {port}:localhost:{port}" in err
    assert "Traceback" not in err


def test_the_real_server_on_all_addresses_needs_its_token(ws_path, tmp_path):
    port = _free_port()
    token_file = tmp_path / "token"
    token_file.write_text("a-long-enough-secret-token-123\n")
    proc = spawn("app", ws_path, "--port", port, "--no-browser", "--host", "0.0.0.0",
                 "--token-file", token_file)
    try:
        url = _wait_url(proc)
        assert url == f"http://0.0.0.0:{port}/?token=a-long-enough-secret-token-123"
        base = f"http://127.0.0.1:{port}/"
        assert httpx.get(base + "api/meta", timeout=10).status_code == 403
        r = httpx.get(base + "api/meta?token=a-long-enough-secret-token-123", timeout=10)
        assert r.status_code == 200 and "visionflow_token=" in r.headers["set-cookie"]
        r = httpx.get(base + "api/meta", timeout=10,
                      headers={"X-Visionflow-Token": "a-long-enough-secret-token-123"})
        assert r.status_code == 200
    finally:
        err = _stop(proc)
    assert "ssh -L" not in err


def test_a_busy_port_and_a_bad_token_file_are_one_line(ws_path, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = subprocess.run([sys.executable, "-m", "visionflow", "app", str(ws_path), "--port",
                            str(port), "--no-browser"], capture_output=True, text=True,
                           env=env(), timeout=60)
    assert r.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in r.stderr and "Traceback" not in r.stderr
    short = tmp_path / "short"
    short.write_text("abc")
    r = subprocess.run([sys.executable, "-m", "visionflow", "app", str(ws_path), "--host",
                        "0.0.0.0", "--token-file", str(short), "--no-browser"],
                       capture_output=True, text=True, env=env(), timeout=60)
    assert r.returncode == 1 and "at least 16 characters" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    r = subprocess.run([sys.executable, "-m", "visionflow", "app", str(tmp_path / "nope"),
                        "--no-browser", "--port", str(_free_port())],
                       capture_output=True, text=True, env=env(), timeout=60)
    assert r.returncode == 1 and "no such file or folder" in r.stderr


def test_without_the_web_extra_one_line_says_what_to_install(ws_path):
    code = ("import sys; sys.modules['uvicorn'] = None\n"
            "from visionflow.cli.main import main\n"
            f"sys.argv = ['visionflow', 'app', {str(ws_path)!r}, '--no-browser']\nmain()")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env=env(), timeout=60)
    assert r.returncode == 1
    assert r.stderr.strip() == "error: the web app needs its extra: pip install " \
        "'visionflow[web]'"


def test_a_bug_or_a_full_disk_is_one_json_line_too(ws_path, static, monkeypatch):
    from fastapi.testclient import TestClient

    import visionflow.app.routes_edit as routes_edit
    state = AppState.open(ws_path, background=False)
    client = TestClient(create_app(state, token=TOKEN, static_dir=static), base_url=BASE,
                        raise_server_exceptions=False)
    try:
        def full(state):
            raise OSError(28, "No space left on device", "/tmp/x")
        monkeypatch.setattr(routes_edit, "class_table", full)
        r = client.get("/api/classes")
        assert r.status_code == 500
        assert r.json() == {"error": "/tmp/x: No space left on device"}

        def bug(state):
            raise KeyError("oops")
        monkeypatch.setattr(routes_edit, "class_table", bug)
        r = client.get("/api/classes")
        assert r.status_code == 500
        assert r.json()["error"] == "internal error: KeyError: 'oops' (please report)"
    finally:
        close(state)
