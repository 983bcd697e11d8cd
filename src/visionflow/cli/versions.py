"""Workspace commands: init, add, sources, merge, gc, verify, and the `version` group.

Each command opens the workspace (the nearest one above the current folder, or --workspace),
calls one Workspace method and renders the result."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from ..core.errors import Error
from . import render
from .app import (ErrorsOpt, FollowLinksOpt, ForceOpt, FromOpt, ImagesDirOpt, ImagesOpt, InputOpt,
                  OptionOpt, OverwriteOpt, SkipOpt, app, command, errors_flag,
                  parse_options)

if TYPE_CHECKING:
    from ..versioning import Workspace

WorkspaceOpt = Annotated[Path | None, typer.Option(
    "--workspace", "-w", help="Workspace folder (default: the nearest one above the current "
                              "folder).")]
LockOpt = Annotated[float | None, typer.Option(
    "--lock-timeout", help="Seconds to wait for another visionflow process writing to the "
                           "workspace before giving up (default: wait).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")]

version_app = typer.Typer(
    name="version", no_args_is_help=True, rich_markup_mode=None,
    help="Immutable dataset versions: create, list, show, diff, export, delete, tag.\n\n"
         "Examples:\n\n"
         "  visionflow version create --name v1 --recipe aug.yaml --seed 7\n\n"
         "  visionflow version diff v1 v2\n\n"
         "  visionflow version export v1 out/ --to yolo")
app.add_typer(version_app, name="version")


def _version_command(fn):
    """`version_<name>` functions become `visionflow version <name>`."""
    return command(fn, on=version_app, name=fn.__name__.removeprefix("version_"))


def _open(workspace: Path | None, lock_timeout: float | None = None) -> Workspace:
    from ..versioning import Workspace  # SQLite and hashing: loaded only by these commands

    return Workspace.open(workspace, lock_timeout=lock_timeout,
                          on_wait=lambda msg: render.err.print(render.text((msg, "yellow")),
                                                               highlight=False))


def _json(data) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


# -- workspace commands -----------------------------------------------------------------------

@command
def init(directory: Annotated[Path, typer.Argument(help="Folder to make a workspace in "
                                                        "(created if absent).")] = Path(".")):
    """Make a workspace: images stored once by content hash, versions in a local database.

    Examples:

      visionflow init

      visionflow init my-project/
    """
    from ..versioning import Workspace

    ws = Workspace.init(directory)
    ws.close()
    render.err.print(render.text((f"initialized an empty workspace in {ws.dir}", "green")),
                     highlight=False)


@command
def add(
    src: Annotated[Path, typer.Argument(help="Dataset folder or annotation file, any format.")],
    name: Annotated[str | None, typer.Option(
        "--name", "-n", help="Source name (default: the dataset folder's name).")] = None,
    from_: FromOpt = None,
    errors: ErrorsOpt = None,
    skip_errors: SkipOpt = False,
    workspace: WorkspaceOpt = None,
    lock_timeout: LockOpt = None,
    as_json: JsonOpt = False,
    input_option: InputOpt = None,
    images_dir: ImagesDirOpt = None,
    follow_links: FollowLinksOpt = False,
):
    """Import a dataset as the next revision of a source, recording what changed.

    Identical images are stored once. Re-adding after edits in a labeling tool records the
    images added, removed and changed and the annotations added, removed and moved per class.
    The source is never modified.

    Examples:

      visionflow add raccoon/

      visionflow add export.json --name pets --from coco
    """
    with _open(workspace, lock_timeout) as ws:
        result = ws.add(src, name, from_, errors=errors_flag(errors, skip_errors),
                        images_dir=images_dir, follow_links=follow_links,
                        progress=render.progress_bar, read_options=parse_options(input_option))
    if as_json:
        return _json(result.to_dict())
    render.print_report(result.report)
    if result.unchanged:
        render.err.print(f"{result.source}: unchanged since revision {result.revision}; nothing "
                         "recorded", highlight=False)
        return
    render.err.print(render.text((f"{result.source}: revision {result.revision}", "green"),
                                 f" ({result.images} images, {result.annotations} annotations, "
                                 f"{result.new_blobs} new image files stored)"), highlight=False)
    if result.changes is not None:
        _print_diff(result.changes.to_dict(limit=10))


@command
def sources(workspace: WorkspaceOpt = None, as_json: JsonOpt = False):
    """List sources and their revisions, with what each revision changed.

    Examples:

      visionflow sources --json
    """
    with _open(workspace) as ws:
        data = ws.sources()
    if as_json:
        return _json(data)
    table = Table(title="Sources", title_justify="left")
    for col in ("source", "rev", "added", "by", "images", "annotations", "changes"):
        table.add_column(col, justify="right" if col in ("rev", "images", "annotations") else "left")
    for src in data:
        for r in src["revisions"]:
            ch = r["changes"]
            text = "-" if ch is None else _change_line(ch)
            table.add_row(src["name"], str(r["revision"]), r["created_at"][:19], r["author"],
                          str(r["images"]), str(r["annotations"]), text)
    render.out.print(table)


@command
def merge(
    srcs: Annotated[list[str], typer.Argument(help="Sources to combine: NAME or NAME@REVISION.")],
    name: Annotated[str, typer.Option("--name", "-n", help="Source to create (or revise).")],
    map_: Annotated[list[str] | None, typer.Option(
        "--map", "-m", help="Rename a class of one source: SOURCE:OLD=NEW (repeatable).")] = None,
    renumber: Annotated[bool, typer.Option(
        help="Number the merged classes 1..N instead of keeping the sources' ids.")] = False,
    prefix: Annotated[bool, typer.Option(
        help="Put each source's images under '<source>/' (when file names clash).")] = False,
    workspace: WorkspaceOpt = None,
    lock_timeout: LockOpt = None,
    as_json: JsonOpt = False,
):
    """Combine sources into a new source, with an explicit class mapping.

    Classes are matched by name after the --map renames. A name with different ids in two
    sources, an id with different names, or an image name in two sources is an error that says
    what to map (or to pass --renumber / --prefix); nothing is resolved silently.

    Examples:

      visionflow merge cats dogs --name pets

      visionflow merge a b --name ab --map "b:kitty=cat" --map "b:puppy=dog"
    """
    with _open(workspace, lock_timeout) as ws:
        result = ws.merge(srcs, name, map_ or [], renumber=renumber, prefix=prefix)
    if as_json:
        return _json(result.to_dict())
    for note in result.notes:
        render.err.print(render.text(("note", "dim"), f": {note}"), highlight=False)
    if result.unchanged:
        render.err.print(f"{name}: unchanged since revision {result.revision}", highlight=False)
        return
    render.err.print(render.text((f"{name}: revision {result.revision}", "green"),
                                 f" ({result.images} images, {result.annotations} annotations)"),
                     highlight=False)


@command
def gc(workspace: WorkspaceOpt = None, lock_timeout: LockOpt = None, as_json: JsonOpt = False):
    """Delete stored images and annotations that no version or revision uses any more.

    Examples:

      visionflow version delete old && visionflow gc
    """
    with _open(workspace, lock_timeout) as ws:
        result = ws.gc()
    if as_json:
        return _json(result.to_dict())
    render.err.print(render.text((f"removed {result.blobs_removed} blob(s)", "green"),
                                 f" ({result.bytes_freed / 1e6:.1f} MB), "
                                 f"{result.snapshots_removed} snapshot(s), "
                                 f"{result.annsets_removed} annotation set(s), "
                                 f"{result.temporary_removed} temporary file(s)"), highlight=False)


@command
def verify(workspace: WorkspaceOpt = None, as_json: JsonOpt = False):
    """Check every stored file against its hash and every reference in the database.

    Exits 1 and names each corrupted or missing blob (and what uses it) when something is wrong.

    Examples:

      visionflow verify
    """
    with _open(workspace) as ws:
        result = ws.verify(progress=render.progress_bar)
    if as_json:
        _json(result.to_dict())
    else:
        for p in result.problems:
            render.err.print(render.text(("problem", "red"), f": {p}"), highlight=False,
                             soft_wrap=True)
        for n in result.notes:
            render.err.print(render.text(("note", "dim"), f": {n}"), highlight=False)
        if result.ok:
            render.err.print(render.text(("ok", "green"), f": {result.blobs} blob(s) and "
                                         f"{result.references} reference(s) checked"),
                             highlight=False)
    if not result.ok:
        raise typer.Exit(1)


# -- version group ----------------------------------------------------------------------------

@_version_command
def version_create(
    name: Annotated[str, typer.Option("--name", "-n", help="Name of the new version.")],
    recipe: Annotated[Path | None, typer.Option(
        help="Transform recipe file (see 'visionflow transform').")] = None,
    seed: Annotated[int, typer.Option(help="Seed for the recipe's random choices.")] = 0,
    sources_: Annotated[str | None, typer.Option(
        "--sources", help="Comma-separated sources (NAME or NAME@REVISION); default: all, "
                          "latest revisions.")] = None,
    like: Annotated[str | None, typer.Option(
        help="Re-create another version from its lineage (same revisions, recipe, seed).")] = None,
    workspace: WorkspaceOpt = None,
    lock_timeout: LockOpt = None,
    as_json: JsonOpt = False,
):
    """Create an immutable version from the sources, optionally through a recipe.

    Its lineage records the source revisions, recipe, seed, visionflow version, author and time;
    the same lineage always gives the same bytes (see --like).

    Examples:

      visionflow version create --name v1

      visionflow version create --name v2-aug --recipe aug.yaml --seed 7 --sources pets,cars@3

      visionflow version create --name v1-again --like v1
    """
    if like and (recipe or sources_):
        raise Error("--like takes the sources, recipe and seed from that version's lineage; "
                    "drop --recipe/--sources")
    specs = [s for s in sources_.split(",") if s.strip()] if sources_ else None
    with _open(workspace, lock_timeout) as ws:
        info = ws.create_version(name, recipe=recipe, seed=seed, sources=specs, like=like,
                                 progress=render.progress_bar)
    if as_json:
        return _json(info)
    render.err.print(render.text((f"version {name}", "green"), f" ({info['images']} images, "
                                 f"{info['annotations']} annotations) from "
                                 f"{', '.join(_pins(info['lineage']))}"), highlight=False)


@_version_command
def version_list(workspace: WorkspaceOpt = None, as_json: JsonOpt = False):
    """List versions, oldest first.

    Examples:

      visionflow version list --json
    """
    with _open(workspace) as ws:
        rows = ws.versions()
    if as_json:
        return _json(rows)
    table = Table(title="Versions", title_justify="left")
    for col in ("name", "created", "by", "images", "annotations", "sources", "recipe", "seed",
                "tags"):
        table.add_column(col, justify="right" if col in ("images", "annotations", "seed", "tags")
                         else "left")
    for r in rows:
        table.add_row(r["name"], r["created_at"][:19], r["author"], str(r["images"]),
                      str(r["annotations"]), ", ".join(r["sources"]), r["recipe"] or "-",
                      str(r["seed"]), str(r["tags"]))
    render.out.print(table)


@_version_command
def version_show(name: Annotated[str, typer.Argument(help="Version name.")],
         workspace: WorkspaceOpt = None, as_json: JsonOpt = False):
    """Show a version: lineage, counts per split and class, tags.

    Examples:

      visionflow version show v1
    """
    with _open(workspace) as ws:
        info = ws.version(name)
    if as_json:
        return _json(info)
    lin = info["lineage"]
    head = Table(title=f"Version {name}", show_header=False, title_justify="left")
    head.add_row("created", f"{info['created_at']} by {info['author']}")
    head.add_row("sources", ", ".join(_pins(lin)))
    head.add_row("recipe", (lin.get("recipe") or {}).get("file") or "-")
    head.add_row("seed", str(lin["seed"]))
    head.add_row("visionflow", lin["visionflow_version"])
    head.add_row("fingerprint", lin["fingerprint"])
    for t in info["tags"]:
        head.add_row("tag", f"{t['note']} ({t['author']}, {t['created_at'][:19]})")
    render.out.print(head)
    for table in render.info_tables({**info["summary"], "format": "visionflow version"})[1:]:
        render.out.print(table)


@_version_command
def version_diff(a: Annotated[str, typer.Argument(help="Version (or SOURCE@REVISION).")],
         b: Annotated[str, typer.Argument(help="Version (or SOURCE@REVISION).")],
         limit: Annotated[int, typer.Option(help="Image names listed per kind of change "
                                                 "(--json lists all).")] = 10,
         workspace: WorkspaceOpt = None, as_json: JsonOpt = False):
    """What changed from A to B: images added, removed and changed; annotations added, removed
    and moved per class.

    Examples:

      visionflow version diff v1 v2

      visionflow version diff v1 pets@latest --json
    """
    with _open(workspace) as ws:
        d = ws.diff(a, b)
    if as_json:
        return _json(d.to_dict())
    _print_diff(d.to_dict(limit=limit))


@_version_command
def version_export(
    name: Annotated[str, typer.Argument(help="Version (or SOURCE@REVISION).")],
    dst: Annotated[Path, typer.Argument(help="Output folder (created; must be empty or absent).")],
    to: Annotated[str, typer.Option("--to", "-t", help="Target format, e.g. coco, yolo, voc.")],
    images: ImagesOpt = "copy",
    strict: Annotated[bool, typer.Option(help="Fail if the format cannot hold everything.")] = False,
    overwrite: OverwriteOpt = False,
    force: ForceOpt = False,
    option: OptionOpt = None,
    workspace: WorkspaceOpt = None,
):
    """Write a version in any format; every image is checked against its hash first.

    DST may not be or contain the workspace; with --images link the output shares the
    stored (read-only) image files.

    Examples:

      visionflow version export v1 v1-yolo/ --to yolo

      visionflow version export v1 v1-coco/ --to coco --images link
    """
    with _open(workspace) as ws:
        report = ws.export(name, dst, to, images=images, strict=strict, overwrite=overwrite,
                           force=force,
                           progress=render.progress_bar, **parse_options(option))
    render.print_report(report)
    render.print_written(report, dst, f"version {name}")


@_version_command
def version_delete(name: Annotated[str, typer.Argument(help="Version name.")],
           force: Annotated[bool, typer.Option(help="Delete even if tagged.")] = False,
           workspace: WorkspaceOpt = None, lock_timeout: LockOpt = None):
    """Delete a version (stored images stay until 'visionflow gc').

    Examples:

      visionflow version delete v1-test
    """
    with _open(workspace, lock_timeout) as ws:
        ws.delete_version(name, force=force)
    render.err.print(f"deleted version {name}", highlight=False)


@_version_command
def version_tag(name: Annotated[str, typer.Argument(help="Version name.")],
        note: Annotated[str, typer.Option("--note", help="Text to record, e.g. the model run.")],
        workspace: WorkspaceOpt = None, lock_timeout: LockOpt = None):
    """Record a note on a version, e.g. which model it trained.

    Examples:

      visionflow version tag v1 --note "trained yolov8n run 42, mAP50 0.61"
    """
    with _open(workspace, lock_timeout) as ws:
        ws.tag(name, note)
    render.err.print(f"tagged {name}: {note}", highlight=False)


# -- rendering --------------------------------------------------------------------------------

def _pins(lineage: dict) -> list[str]:
    return [f"{s['name']}@{s['revision']}" for s in lineage["sources"]]


def _change_line(ch: dict) -> str:
    im, an = ch["images"], ch["annotations"]
    return (f"images +{im['added']} -{im['removed']} ~{im['changed']}; annotations "
            f"+{an['added']} -{an['removed']} moved {an['moved']}")


def _print_diff(d: dict) -> None:
    im = d["images"]
    render.out.print(f"{d['a']} -> {d['b']}: images +{im['added']} -{im['removed']}, "
                     f"{im['changed']} with new pixels, {im['reannotated']} with edited "
                     "annotations", highlight=False)
    for kind in ("added", "removed"):
        if d["categories"][kind]:
            render.out.print(f"classes {kind}: {', '.join(d['categories'][kind])}",
                             highlight=False)
    if d["per_class"]:
        table = Table(title="Annotations per class", title_justify="left")
        for col in ("class", "added", "removed", "moved"):
            table.add_column(col, justify="left" if col == "class" else "right")
        for name, c in d["per_class"].items():
            table.add_row(name, str(c["added"]), str(c["removed"]), str(c["moved"]))
        render.out.print(table)
    for kind in ("added", "removed", "changed", "reannotated"):
        names = d[f"images_{kind}"]
        if names:
            more = im[kind] - len(names)
            render.out.print(f"images {kind}: {', '.join(names)}"
                             + (f" (and {more} more)" if more > 0 else ""), highlight=False)
