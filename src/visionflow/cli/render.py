"""Terminal output: reports, tables and progress bars. The only place that prints."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)
from rich.table import Table

from ..core.report import Report

out = Console()
err = Console(stderr=True)


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
        err.print(f"[{style}]{f.severity}[/]: {f.message}" + (f" ({f.count})" if f.count > 1 else "")
                  + (f" [dim]at {f.where}[/]" if f.where else ""), highlight=False)
    if skipped:
        for f in skipped[:20]:
            err.print(f"[red]skipped[/]: {f.where}: {f.message}" if f.where else
                      f"[red]skipped[/]: {f.message}", highlight=False)
        if len(skipped) > 20:
            err.print(f"[red]skipped[/]: ... and {len(skipped) - 20} more", highlight=False)
        err.print(f"[red]{len(skipped)} problem(s) skipped[/] (--skip-errors)", highlight=False)


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
