"""`visionflow predict MODEL SRC DST`: run any detector over a dataset and keep what it found
as predictions (a dataset whose objects carry scores), closing the loop
predict -> `mistakes` -> fix -> version -> `distill`.

MODEL is whatever `load_detector` takes: a registry name (`centernet`, `nanodet`: pulled
with `visionflow models pull`), an exported .onnx with its sidecar (models/onnx_detector.py:
what `distill` writes), or a hub id / folder of an open-vocabulary model (with `classes`
as its prompts). The predictions are written in any format (a COCO results-style dataset,
`yolo-conf` needs a format with scores to keep them) or stored in a workspace as a
prediction set of the version, ready for `visionflow evaluate VERSION NAME -w WS`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..core.errors import Error
from ..core.report import Report
from .base import Detector, models_dir

# Used when models/registry.py cannot be imported (a partial install): the built-in detectors.
_BUILTIN = {"centernet": "visionflow.models.centernet:CenterNet",
            "nanodet": "visionflow.models.nanodet:NanoDet"}


def _import(target: str) -> Any:
    import importlib
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def registry_load(name: str | os.PathLike, **kwargs: Any) -> Any:
    """`models.registry.load`, the one entry point for named models; without the registry
    module, the built-in detectors from models_dir()/<name>/."""
    try:
        from . import registry
    except ImportError:
        registry = None
    if registry is not None and hasattr(registry, "load"):
        return registry.load(name, **kwargs)
    text = str(name)
    if text in _BUILTIN:
        folder = models_dir() / text
        if not (folder / "model.onnx").is_file():
            raise Error(f"model {text!r} is not pulled ({folder} has no model.onnx); run "
                        f"`visionflow models pull {text}`")
        return _import(_BUILTIN[text])(folder, None)
    raise Error(f"unknown model {text!r} (known: {', '.join(sorted(_BUILTIN))}, an .onnx file "
                "or a hub id)")


def _is_registry_name(text: str) -> bool:
    try:
        from . import registry
    except ImportError:
        return text in _BUILTIN
    specs = getattr(registry, "SPECS", None) or getattr(registry, "REGISTRY", None)
    if isinstance(specs, dict):
        return text in specs
    get = getattr(registry, "get", None) or getattr(registry, "spec", None)
    if callable(get):
        try:
            return get(text) is not None
        except Exception:  # noqa: BLE001 - "unknown name" in whatever form the registry says
            return False
    return text in _BUILTIN


def load_detector(model: Any, prompts: tuple[str, ...] | list[str] = ()) -> Detector:
    """A Detector from `model`: a Detector (as is), an .onnx file or folder holding
    model.onnx + model.json (OnnxDetector), a registry name, or a hub id / folder of an
    open-vocabulary model, built with `prompts` as its classes. Anything else: one line."""
    if not isinstance(model, str | os.PathLike):
        if isinstance(model, Detector):
            return model
        raise Error(f"model must be a name, a path or a Detector, not {type(model).__name__}")
    text = str(model)
    path = Path(text).expanduser()
    if path.suffix.lower() == ".onnx" or (path.is_dir() and (path / "model.json").is_file()
                                          and (path / "model.onnx").is_file()):
        from .onnx_detector import OnnxDetector
        return OnnxDetector(path)
    kwargs: dict[str, Any] = {}
    if prompts and not _is_registry_name(text):
        kwargs["classes"] = tuple(prompts)  # open vocabulary: the ontology's sources
    got = registry_load(text, **kwargs)
    if not isinstance(got, Detector):
        task = getattr(getattr(got, "info", None), "task", "this")
        raise Error(f"{text}: a {task} model, not a detector (autolabel and predict need one "
                    "that finds objects: centernet, nanodet, movenet, an exported .onnx, OWLv2)")
    return got


def predict(model: Any, src: Any, dst: str | Path | None = None, *, classes: Any = None,
            threshold: float = 0.01, to: str | None = None, name: str | None = None,
            workspace: Any = None, engine: str = "local", workers: int | None = None,
            address: str | None = None, images: str = "none", overwrite: bool = False,
            force: bool = False, errors: str = "raise", format: str | None = None,
            report: Report | None = None, progress=None, write_options: dict | None = None,
            read_options: dict | None = None, images_dir: str | Path | None = None,
            follow_links: bool = False):
    """`visionflow predict`: the detections of `model` on every image of `src` as a
    predictions dataset at `dst` (format `to`, default the source's; annotations only unless
    `images`), and/or, with `workspace`, as prediction set `name` of version `src`.

    classes: an ontology (as for autolabel) to rename or keep some classes; default every
    model class under its own name. threshold: the lowest score kept (0.01: the whole
    precision-recall curve for `evaluate`; on raccoon, CenterNet's AP50 drops from 0.59 to
    0.51 at 0.05). Returns autolabel's AutolabelResult.
    """
    from .autolabel import autolabel
    return autolabel(src, dst, model, classes, threshold=threshold, to=to, name=name,
                     workspace=workspace, engine=engine, workers=workers, address=address,
                     images=images, overwrite=overwrite, force=force, errors=errors,
                     format=format, report=report, progress=progress, keep_ground_truth=False,
                     write_options=write_options, read_options=read_options,
                     images_dir=images_dir, follow_links=follow_links)
