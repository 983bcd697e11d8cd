"""A small workspace and an app over it, for the write-side tests (save, classes, versions,
security, server)."""

from __future__ import annotations

from pathlib import Path

from ..versioning.helpers import write_coco

TOKEN = "t0k3n-for-the-tests-0123456789abcdef"
BASE = "http://127.0.0.1:8765"
AUTH = {"X-Visionflow-Token": TOKEN}

# image a: cat + dog; image b: dog; image c: nothing (64x48 images)
BOXES = [(0, 1, [2.0, 3.0, 10.0, 8.0]), (0, 2, [20.0, 10.0, 12.5, 9.0]),
         (1, 2, [5.0, 5.0, 30.0, 20.0])]


def make_workspace(root: Path, name: str = "pets", boxes=BOXES) -> Path:
    from visionflow.versioning.workspace import Workspace
    src = write_coco(root / "src", boxes)
    ws_path = root / "ws"
    with Workspace.init(ws_path) as ws:
        ws.add(src, name=name)
    return ws_path


def open_app(path: Path, *, public: bool = False, **kwargs):
    """(TestClient, state) over the workspace or folder at path, loaded before returning."""
    from fastapi.testclient import TestClient

    from visionflow.app.server import create_app
    from visionflow.app.state import AppState
    state = AppState.open(path, background=False)
    app = create_app(state, token=TOKEN, public=public, **kwargs)
    return TestClient(app, base_url=BASE), state


def wait_loaded(client) -> dict:
    """/api/meta once the app has the full dataset (after a save it reloads in the
    background)."""
    state = client.app.state.vf
    assert state.wait_loaded(60) and state.loaded, state.error
    return client.get("/api/meta").json()


def close(state) -> None:
    """Close an AppState once its background work (load, check) is done: closing the
    workspace database under a running background thread is not safe."""
    state.wait_loaded(60)
    state.wait_findings(60)
    state.close()
