"""Thresholds of the checks, in one frozen dataclass (the CLI options map onto its fields)."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

from ..core.errors import Error


@dataclass(frozen=True)
class CheckConfig:
    """Thresholds and switches of `visionflow.check`.

    min_size:           objects whose shorter side is below this many pixels after the image
                        is resized (longer side) to `input_size` are "tiny".
    input_size:         the model's input size in pixels (longer side), e.g. 640.
    iou:                two boxes of one class in one image with at least this IoU are
                        duplicates.
    imbalance_ratio:    most / fewest annotations per used class at or above which the
                        classes are imbalanced; classes below most / ratio are named.
    near_dup_distance:  most differing bits (of 64) between the dHashes of two images for
                        them to be near duplicates; -1 turns the near-duplicate search off.
    whole_image:        a box covering at least this fraction of its image "covers the whole
                        image".
    edge_tolerance:     pixels a box may reach past the image edge before it is out of bounds.
    max_aspect_ratio:   boxes longer than this many times their width (or the reverse).
    keypoint_tolerance: fraction of the object's size a labelled keypoint may lie outside its
                        box.
    location_bias:      share of a class's boxes in one cell of a 3x3 grid over the image at
                        or above which the class has a location bias (info).
    read_images:        read image files (headers, truncation, EXIF); False: annotations only.
    hash_images:        hash images (SHA-256 of the bytes, dHash of reduced pixels) to find
                        exact and near duplicates and split leakage.
    workers:            processes for reading images (None: one per CPU).
    heatmap_size:       cells per side of the per-class location heatmaps.
    """

    min_size: float = 4.0
    input_size: int = 640
    iou: float = 0.95
    imbalance_ratio: float = 10.0
    near_dup_distance: int = 4
    whole_image: float = 0.98
    edge_tolerance: float = 1.0
    max_aspect_ratio: float = 20.0
    keypoint_tolerance: float = 0.1
    location_bias: float = 0.8
    read_images: bool = True
    hash_images: bool = True
    workers: int | None = None
    heatmap_size: int = 32

    def __post_init__(self) -> None:
        def need(ok: bool, name: str, expected: str) -> None:
            if not ok:
                raise Error(f"check option {name} must be {expected}, got "
                            f"{getattr(self, name)!r}")
        need(self.min_size >= 0, "min_size", "at least 0 (pixels)")
        need(self.input_size >= 1, "input_size", "a positive number of pixels")
        need(0 < self.iou <= 1, "iou", "in (0, 1]")
        need(self.imbalance_ratio >= 1, "imbalance_ratio", "at least 1")
        need(-1 <= self.near_dup_distance <= 32, "near_dup_distance",
             "between -1 (off) and 32 bits")
        need(0 < self.whole_image <= 1, "whole_image", "in (0, 1]")
        need(self.edge_tolerance >= 0, "edge_tolerance", "at least 0 (pixels)")
        need(self.max_aspect_ratio >= 1, "max_aspect_ratio", "at least 1")
        need(self.keypoint_tolerance >= 0, "keypoint_tolerance", "at least 0")
        need(0 < self.location_bias <= 1, "location_bias", "in (0, 1]")
        need(self.workers is None or self.workers >= 1, "workers", "at least 1")
        need(4 <= self.heatmap_size <= 256, "heatmap_size", "between 4 and 256")

    def replace(self, **changes: Any) -> CheckConfig:
        unknown = set(changes) - {f.name for f in fields(self)}
        if unknown:
            raise Error(f"unknown check option(s) {', '.join(sorted(unknown))}; known: "
                        f"{', '.join(f.name for f in fields(self))}")
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}
