"""The FastAPI application: the API routers over one `AppState`, the token guard, and the
built front end (static/). `create_app` is what tests drive with a TestClient; `serve` is what
`visionflow app` runs under uvicorn.

Owners while this is being built (one module each, no one edits another's):
  state.py, index.py, thumbs.py, routes_browse.py  -- dataset/workspace state, filters,
                                                      facets, thumbnails, images, health
  security.py, routes_edit.py, routes_versions.py  -- token guard, save/classes/workspace,
                                                      versions/wizard/export; this file
  routes_sam.py                                    -- SAM embedding + decoder routes
"""

from __future__ import annotations

import html
import importlib
import logging
import threading
import webbrowser
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import Request     # the web extra: this module is only imported to run the app

from ..core.errors import Error, LocatedError, OutputError, UsageError
from .errors import Conflict, Forbidden, NotFound, TooLarge
from .security import MAX_BODY, Guard, is_local, new_token, read_token

STATIC = Path(__file__).parent / "static"
ASSET_CACHE = "public, max-age=31536000, immutable"   # Vite names assets by content hash
ROUTERS = ("routes_browse", "routes_sam", "routes_edit", "routes_versions")
TOKEN_META = '<meta name="visionflow-token" content="{}">'
NOT_BUILT = """<!doctype html><html><head><meta charset="utf-8"><title>visionflow</title></head>
<body style="font-family:sans-serif;max-width:40em;margin:4em auto">
<h1>visionflow: front end not built</h1>
<p>The web front end is not in this installation ({where}). In a source checkout,
run <code>make web</code> (it builds web/ with npm into src/visionflow/app/static/), then
restart <code>visionflow app</code>. The JSON API under <code>/api</code> works without it.</p>
</body></html>"""

log = logging.getLogger("visionflow.app")


def _status(e: Error) -> int:
    """The HTTP status of a visionflow error (web/API.md)."""
    from .index import NotReady
    from .state import UnknownImage
    if isinstance(e, (UnknownImage, NotFound)):
        return 404
    if isinstance(e, (Conflict, NotReady)):
        return 409
    if isinstance(e, Forbidden):
        return 403
    if isinstance(e, TooLarge):
        return 413
    return 400


def create_app(state: Any, *, token: str, public: bool = False, sam: Any = None,
               static_dir: str | Path | None = None, max_body: int = MAX_BODY,
               allowed_hosts: tuple[str, ...] | None = None) -> Any:
    """The app over `state` (an `AppState`). `token`: the session token every mutation needs
    (and, when `public`, i.e. bound to a non-local address, every request); refused when
    empty or short. `sam`: the SAM model the SAM routes use (None: not configured).
    `static_dir`: the built front end (default: the package's static/)."""
    from fastapi import FastAPI
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import HTMLResponse, JSONResponse, Response
    from starlette.exceptions import HTTPException

    Guard(None, token=token, public=public)          # refuse a missing or weak token now
    app = FastAPI(title="visionflow", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.vf = state
    app.state.sam = sam
    app.state.token = token
    app.state.public = public
    app.state.save_lock = threading.Lock()
    for name in ROUTERS:
        module = _router_module(name)
        if module is not None:
            app.include_router(module.router)

    @app.exception_handler(Error)
    async def _error(request: Request, e: Error) -> JSONResponse:
        body: dict[str, Any] = {"error": _one_line(str(e))}
        if isinstance(e, Conflict) and e.current_revision is not None:
            body["current_revision"] = e.current_revision
        if isinstance(e, LocatedError) and e.where:
            body["where"] = e.where
        return JSONResponse(body, status_code=_status(e))

    @app.exception_handler(OSError)
    async def _os_error(request: Request, e: OSError) -> JSONResponse:
        # a full disk, a permission: the machine's problem, said in one line like the CLI
        where = e.filename2 or e.filename or ""
        return JSONResponse({"error": f"{where}: {e.strerror or e}" if where else
                             str(e.strerror or e)}, status_code=500)

    @app.exception_handler(Exception)
    async def _bug(request: Request, e: Exception) -> JSONResponse:
        log.error("internal error in %s %s", request.method, request.url.path, exc_info=e)
        return JSONResponse({"error": f"internal error: {type(e).__name__}: "
                             f"{_one_line(str(e))[:300]} (please report)"}, status_code=500)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, e: RequestValidationError) -> JSONResponse:
        errs = e.errors()
        first = errs[0] if errs else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        return JSONResponse({"error": f"{request.method} {request.url.path}: "
                             f"{where or 'request'}: {first.get('msg', 'invalid request')}"},
                            status_code=400)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, e: HTTPException) -> JSONResponse:
        message = e.detail if isinstance(e.detail, str) else str(e.detail)
        if e.status_code == 404:
            message = f"{request.url.path}: no such route"
        elif e.status_code == 405:
            message = f"{request.method} {request.url.path}: method not allowed"
        return JSONResponse({"error": message}, status_code=e.status_code,
                            headers=getattr(e, "headers", None))

    static = Path(static_dir) if static_dir is not None else STATIC
    index_file = static / "index.html"

    def page() -> Response:
        try:
            text = index_file.read_text(encoding="utf-8")
        except OSError:
            return HTMLResponse(NOT_BUILT.format(where=html.escape(str(static))),
                                status_code=503, headers={"cache-control": "no-store"})
        meta = TOKEN_META.format(html.escape(token, quote=True))
        text = text.replace("</head>", f"  {meta}\n</head>", 1) if "</head>" in text \
            else meta + text
        return HTMLResponse(text, headers={"cache-control": "no-store"})

    @app.get("/", include_in_schema=False)
    def _index() -> Response:
        return page()

    @app.get("/assets/{name:path}", include_in_schema=False)
    def _asset(name: str) -> Response:
        path = _static_file(static / "assets", name)
        if path is None:
            return JSONResponse({"error": f"/assets/{name[:200]}: no such file"},
                                status_code=404)
        from fastapi.responses import FileResponse
        return FileResponse(path, headers={"cache-control": ASSET_CACHE})

    @app.api_route("/api/{rest:path}", methods=["GET", "HEAD", "POST", "PUT", "PATCH",
                                                "DELETE", "OPTIONS"], include_in_schema=False)
    def _no_route(request: Request, rest: str) -> Response:
        return JSONResponse({"error": f"{request.method} /api/{rest[:200]}: no such route"},
                            status_code=404)

    @app.get("/{name:path}", include_in_schema=False)
    def _other(name: str) -> Response:
        path = _static_file(static, name)
        if path is not None and path.name != "index.html":
            from fastapi.responses import FileResponse
            return FileResponse(path, headers={"cache-control": "no-cache"})
        return page()        # a client-side route (/versions, /image/12): the app's page

    app.add_middleware(Guard, token=token, public=public, max_body=max_body,
                       **({} if allowed_hosts is None else {"allowed_hosts": allowed_hosts}))
    return app


def _router_module(name: str) -> Any:
    """`app.<name>` if it is part of this installation (each router is its own module)."""
    try:
        return importlib.import_module(f"{__package__}.{name}")
    except ModuleNotFoundError as e:
        if e.name == f"{__package__}.{name}":
            log.warning("web app: %s is not available; its routes are missing", name)
            return None
        raise


def _static_file(root: Path, name: str) -> Path | None:
    """A file under `root` named by a URL path, or None: never a path that leaves root."""
    if not name or "\\" in name or "\0" in name:
        return None
    try:
        base = root.resolve()
        path = (root / name).resolve()
    except (OSError, RuntimeError):
        return None
    if not path.is_relative_to(base) or not path.is_file():
        return None
    return path


def _one_line(message: str) -> str:
    return " ".join(message.split())


@dataclass
class Started:
    """What `serve` tells its caller once the server listens (the CLI prints it)."""

    url: str                 # to open in a browser (with ?token= when not local)
    host: str
    port: int
    local: bool
    token_generated: bool    # a fresh token (shown once), not read from --token-file
    ssh_hint: str | None     # how to reach a localhost-bound server from another machine
    revision: str
    kind: str


def prepare(path: str | Path, *, host: str = "127.0.0.1", port: int = 8765,
            token_file: str | Path | None = None, source: str | None = None,
            sam: Any = None) -> tuple[Any, Any, Started]:
    """Open `path` and build the app: (app, state, Started). Binding a non-local host needs
    a token: read from `token_file`, else generated (and shown once in Started.url)."""
    from .state import AppState
    local = is_local(host)
    token = read_token(token_file) if token_file is not None else new_token()
    state = AppState.open(path, source=source)
    sam_model = _sam(state, sam)
    app = create_app(state, token=token, public=not local, sam=sam_model)
    shown = f"[{host}]" if ":" in host else host
    if local:
        url = f"http://{'127.0.0.1' if host in ('localhost', '127.0.0.1') else shown}:{port}/"
        hint = f"ssh -L {port}:localhost:{port} {_user_host()}"
    else:
        url = f"http://{shown}:{port}/?token={token}"
        hint = None
    return app, state, Started(url, host, port, local, token_file is None, hint,
                               state.revision, state.kind)


def _sam(state: Any, sam: Any) -> Any:
    """The SAM model named on the command line, loaded by the SAM routes' module when it
    offers a loader (`load_sam(state, name)`), else handed to those routes as named."""
    if sam is None:
        return None
    module = _router_module("routes_sam")
    if module is None:
        raise UsageError("--sam: this installation has no SAM support")
    loader = getattr(module, "load_sam", None)
    return loader(state, sam) if loader is not None else sam


def _user_host() -> str:
    import getpass
    import socket
    try:
        return f"{getpass.getuser()}@{socket.gethostname()}"
    except (KeyError, OSError):
        return "USER@HOST"


def serve(path: str | Path, host: str = "127.0.0.1", port: int = 8765,
          token_file: str | Path | None = None, open_browser: bool = True, sam: Any = None,
          *, source: str | None = None,
          on_start: Callable[[Started], None] | None = None) -> None:
    """Run the app on host:port until interrupted. `on_start` is called once the socket is
    listening (the CLI prints the URL there); then the browser opens unless `open_browser`
    is False."""
    try:
        import uvicorn
    except ImportError:
        raise UsageError("the web app needs its extra: pip install 'visionflow[web]'") from None
    if not 0 < port < 65536:
        raise UsageError(f"--port must be 1..65535, got {port}")
    sock = _listen(host, port)       # before opening the dataset: a busy port fails at once
    try:
        app, state, started = prepare(path, host=host, port=port, token_file=token_file,
                                      source=source, sam=sam)
    except BaseException:
        sock.close()
        raise
    config = uvicorn.Config(app, host=host, port=port, log_level="warning",
                            access_log=False, server_header=False, lifespan="off")
    server = uvicorn.Server(config)

    def announce() -> None:
        while not server.started and not server.should_exit:
            threading.Event().wait(0.05)
        if server.started:
            if on_start is not None:
                on_start(started)
            if open_browser:
                webbrowser.open(started.url)

    threading.Thread(target=announce, daemon=True, name="visionflow-app-announce").start()
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
        state.close()


def _listen(host: str, port: int) -> Any:
    """A bound socket for host:port, or one line saying why not."""
    import socket
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                   flags=socket.AI_PASSIVE)
    except socket.gaierror as e:
        raise UsageError(f"--host {host!r}: not an address of this machine ({e.strerror})"
                         ) from None
    family, _, _, _, addr = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(addr)
    except OSError as e:
        sock.close()
        raise OutputError(f"cannot listen on {host}:{port} ({e.strerror or e}); pass another "
                          "--port, or --host") from None
    sock.set_inheritable(True)
    return sock


__all__ = ["create_app", "prepare", "serve", "Started"]
