"""Terminal output: reports, tables and progress bars. The only place that prints."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)
from rich.table import Table
from rich.text import Text

from ..core.report import Report, plural  # noqa: F401  (plural: the CLI's too)

# Markup is off: messages, paths, class names and table cells are printed exactly as they are
# (Rich markup would eat `visionflow[transforms]` or a class named "[x]"). Styles are applied
# only through `text()`.
out = Console(markup=False)
err = Console(stderr=True, markup=False)


def text(*parts: str | tuple[str, str]) -> Text:
    """One line from plain strings and (string, style) pairs, every character literal."""
    return Text.assemble(*parts)


@contextmanager
def progress_bar(description: str, total: int | None) -> Iterator:
    """progress_factory for the library: a bar with ETA on an interactive terminal only."""
    if not err.is_terminal or (total is not None and total < 50):
        yield lambda n=1: None
        return
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), TimeRemainingColumn(), console=err,
                  transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n=1: bar.advance(task, n)


def print_report(report: Report) -> None:
    """Warnings and skipped errors, grouped; nothing when the report is empty."""
    skipped = [f for f in report.findings if f.code == "skipped"]
    for f in report.findings:
        if f.code == "skipped":
            continue
        style = "yellow" if f.severity == "warning" else "red" if f.severity == "error" else "dim"
        count = f" ({f.count})" if f.count > 1 else ""
        err.print(text((f.severity, style), f": {f.message}{count}",
                       (f" at {f.where}" if f.where else "", "dim")), highlight=False)
    if skipped:
        for f in skipped[:20]:
            err.print(text(("skipped", "red"), f": {f.where}: {f.message}" if f.where else
                           f": {f.message}"), highlight=False)
        if len(skipped) > 20:
            err.print(text(("skipped", "red"), f": ... and {len(skipped) - 20} more"),
                      highlight=False)
        err.print(text((f"{len(skipped)} problem(s) skipped", "red"), " (--errors skip)"),
                  highlight=False)


def print_written(report: Report, dst: object, extra: str = "") -> None:
    """The summary line of a writing command: what the writer wrote, not what was read."""
    w = report.written or {}
    counts = ", ".join(plural(w.get(key, 0), noun) for key, noun in
                       (("images", "image"), ("annotations", "annotation"),
                        ("categories", "class")))
    err.print(text(("wrote", "green"), f" {counts} as {w.get('format', '?')} to {dst}"
                   + (f" ({extra})" if extra else "")),
              highlight=False, soft_wrap=True)


def info_tables(info: dict) -> list[Table]:
    summary = Table(title="Dataset", show_header=False, title_justify="left")
    summary.add_row("format", str(info["format"]))
    summary.add_row("images", str(info["images"]))
    summary.add_row("annotations", str(info["annotations"]))
    summary.add_row("categories", str(len(info["categories"])))
    summary.add_row("geometry", ", ".join(f"{k}: {v}" for k, v in info["geometry"].items()) or "-")

    splits = Table(title="Splits", title_justify="left")
    for col in ("split", "images", "annotations", "images without annotations"):
        splits.add_column(col, justify="right" if col != "split" else "left")
    for name, s in info["splits"].items():
        splits.add_row(name or "(none)", str(s["images"]), str(s["annotations"]),
                       str(s["images_without_annotations"]))

    classes = Table(title="Annotations per class", title_justify="left")
    classes.add_column("id", justify="right")
    classes.add_column("class")
    split_names = list(info["annotations_per_class"])
    for name in split_names:
        classes.add_column(name or "(none)", justify="right")
    for cat in info["categories"]:
        counts = [str(info["annotations_per_class"][s].get(cat["name"], 0)) for s in split_names]
        classes.add_row(str(cat["id"]), cat["name"], *counts)
    return [summary, splits, classes]
