"""`visionflow app`: a local web app over a workspace or any dataset folder. One process
(FastAPI + uvicorn) over the library: filtering and facets run on the columnar arrays, edits
are saved as new workspace revisions, the front end (TypeScript, built by Vite) ships in the
wheel under `static/`. Needs `visionflow[web]`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..core.errors import UsageError
from . import render
from .app import command


@command(name="app")
def webapp(
    path: Annotated[Path, typer.Argument(
        help="A workspace, or any dataset folder (opened read-only; saving then offers to "
             "create a workspace).")] = Path("."),
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8765,
    host: Annotated[str, typer.Option(
        help="Address to listen on. The default, 127.0.0.1, is this machine only; any other "
             "address (e.g. 0.0.0.0) needs the token printed at start, or --token-file.")
    ] = "127.0.0.1",
    no_browser: Annotated[bool, typer.Option(
        "--no-browser", help="Do not open a browser (on a server, or over ssh).")] = False,
    token_file: Annotated[Optional[Path], typer.Option(
        "--token-file", help="Read the session token from this file instead of making a new "
        "one (at least 16 characters; keep it private).")] = None,
    source: Annotated[Optional[str], typer.Option(
        "--source", help="Workspace source to open (default: the first one).")] = None,
    sam: Annotated[Optional[str], typer.Option(
        "--sam", help="SAM model for click-to-segment: a Hugging Face hub id (e.g. "
        "facebook/sam-vit-base) or a local folder saved with save_pretrained.")] = None,
):
    """See, filter, fix and version a dataset in the browser.

    Prints the URL (and, bound to localhost, the ssh line that reaches it from another
    machine) and opens the browser. Edits are saved as a new revision of the workspace
    source; versions never change. Ctrl-C stops the server.

    Examples:

      visionflow app my-workspace/

      visionflow app data/coco/ --port 9000 --no-browser

      visionflow app . --host 0.0.0.0 --token-file ~/.visionflow-token

      visionflow app . --sam facebook/sam-vit-base
    """
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        raise UsageError("the web app needs its extra: pip install 'visionflow[web]'") from None
    from ..app.server import serve

    def started(info) -> None:
        render.err.print(render.text(("visionflow app", "green"),
                                     f": {info.kind} {path} ({info.revision})"),
                         highlight=False, soft_wrap=True)
        render.out.print(info.url, highlight=False, soft_wrap=True)
        if info.ssh_hint:
            render.err.print(render.text(("from another machine", "dim"),
                                         f": {info.ssh_hint}, then open {info.url}"),
                             highlight=False, soft_wrap=True)
        elif info.token_generated:
            render.err.print(render.text(("token", "yellow"), ": this URL holds the session "
                                         "token, shown once; keep it private"),
                             highlight=False, soft_wrap=True)
        render.err.print(render.text(("Ctrl-C", "dim"), " stops the server"), highlight=False)

    try:
        serve(path, host=host, port=port, token_file=token_file, open_browser=not no_browser,
              sam=sam, source=source, on_start=started)
    except KeyboardInterrupt:                  # Ctrl-C is how the server is meant to stop
        render.err.print("stopped", highlight=False)
