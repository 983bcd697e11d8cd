"""Hugging Face models the user brings: open-vocabulary detectors, crop classifiers and SAM.

No registry package carries OWL, Grounding DINO, CLIP, SigLIP or SAM weights, so a user names
one by hub id (e.g. google/owlv2-base-patch16-ensemble) or by a folder saved with
`save_pretrained`; `load()` reads its config.json and returns, by `model_type`:

- owlv2 / owlvit / grounding-dino -> `TextPromptDetector`, a `Detector` whose classes are
  the text prompts given at construction (`classes=("raccoon", "dog")`): `labels` index them.
- clip / siglip / siglip2 / ... -> `CropClassifier`: `classify_crops(image, boxes, prompts)`
  scores each box's crop against the prompts (autolabel re-labels detections with it).
- sam -> `models.sam.SamSegmenter` (a `Segmenter`; the web app's click-to-segment).

Models load through transformers' own `from_pretrained` (the folder, or the hub cache only when
HF_HUB_OFFLINE=1) and are post-processed by the processors' own `post_process_*` functions, so
boxes come back in the original image's pixels (OWLv2 pads to a square; its post-processing
knows). Loading, offline handling and weight fingerprints are shared with the embeddings'
models (embeddings/models.py). torch and transformers are imported on first use only.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import Error, UsageError
from .base import Detections, ModelInfo

EXTRA = "pip install 'visionflow[hf-models]'"
DETECTOR_TYPES = ("owlv2", "owlvit", "grounding-dino")
CLASSIFIER_TYPES = ("clip", "siglip", "siglip2", "chinese_clip", "altclip", "metaclip_2")
SAM_TYPES = ("sam",)
MIN_SIDE = 0.5                 # px: a detector's smaller boxes are dropped
POSTPROCESS_VERSION = "hf-1"   # part of every fingerprint: changes when our handling does


def _require() -> None:
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError:
        raise Error(f"Hugging Face models need torch and transformers: {EXTRA}") from None


@dataclass
class Source:
    """Where a model comes from: `ref` for from_pretrained, whether to stay offline, a phrase
    saying where it was looked for (for errors), and the local folder if it is one."""
    name: str
    ref: str
    offline: bool
    where: str
    folder: Path | None


def resolve(source: str | os.PathLike) -> Source:
    """A hub id or a local folder, checked: a path that does not exist is one line, not a
    hub lookup of a file name."""
    from ..embeddings.models import _hf_cache, _offline
    text = str(source)
    folder = Path(text).expanduser()
    local = folder.is_dir()
    if folder.is_file():
        raise UsageError(f"{text}: a file; a Hugging Face model is a folder saved with "
                         "save_pretrained (config.json and weights) or a hub id")
    if not local and (text.startswith((".", "/", "~")) or text.count("/") > 1
                      or folder.exists()):
        raise UsageError(f"{text}: no such model folder (a model is a Hugging Face hub id "
                         "like google/owlv2-base-patch16-ensemble, or a folder saved with "
                         "save_pretrained)")
    if local and not (folder / "config.json").is_file():
        raise UsageError(f"{folder}: not a Hugging Face model folder (no config.json)")
    offline = local or _offline()
    where = (f"the folder {folder.absolute()}" if local else
             f"the Hugging Face cache only ({_hf_cache()}; HF_HUB_OFFLINE=1 is set)"
             if offline else "the Hugging Face hub and its cache")
    name = folder.absolute().name if local else text
    return Source(name, str(folder) if local else text, offline, where,
                  folder if local else None)


def model_type(src: Source) -> str:
    """config.json's model_type (what decides the family)."""
    _require()
    from transformers import AutoConfig

    from ..embeddings.models import _first_line, _quiet_transformers
    try:
        with _quiet_transformers():
            config = AutoConfig.from_pretrained(src.ref, local_files_only=src.offline)
    except Exception as e:  # noqa: BLE001 - not there, offline, damaged: the user's to fix
        raise Error(f"cannot load model {src.name!r}: looked in {src.where}: "
                    f"{_first_line(e)}") from None
    return str(getattr(config, "model_type", "") or "")


def pretrained(src: Source, model_cls: Any, processor_cls: Any) -> tuple[Any, Any]:
    """(model in eval mode, processor) through from_pretrained, errors as one line."""
    from ..embeddings.models import _first_line, _quiet_transformers
    try:
        with _quiet_transformers():
            model = model_cls.from_pretrained(src.ref, local_files_only=src.offline)
            processor = processor_cls.from_pretrained(src.ref, local_files_only=src.offline)
    except ImportError as e:
        raise Error(f"model {src.name}: {_first_line(e)} ({EXTRA})") from None
    except Exception as e:  # noqa: BLE001
        raise Error(f"cannot load model {src.name!r}: looked in {src.where}: "
                    f"{_first_line(e)}") from None
    return model.eval(), processor


def fingerprint(src: Source, *extra: str) -> str:
    """Digest of the weight files (local folder, or the hub snapshot) + our handling."""
    import hashlib

    from ..embeddings.models import TransformersEmbedder, weights_fingerprint
    root, files = TransformersEmbedder._weight_files(src.folder, src.ref)
    weights = weights_fingerprint(root, files) if files else f"unpinned:{src.ref}"
    return hashlib.sha256("\0".join((weights, POSTPROCESS_VERSION, *extra)).encode()
                          ).hexdigest()[:32]


def _device(model: Any, device: str | None) -> str:
    import torch
    dev = device or ("cuda" if torch.cuda.is_available() else "cpu")
    model.to(dev)
    return dev


def _rgb(image: np.ndarray, what: str = "image") -> Any:
    from PIL import Image
    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8 or 0 in arr.shape[:2]:
        raise ValueError(f"{what}: expected an RGB uint8 array (H, W, 3), got "
                         f"{arr.dtype} {arr.shape}")
    return Image.fromarray(arr)


def _prompts(classes: Sequence[str], what: str) -> tuple[str, ...]:
    prompts = tuple(str(c).strip() for c in classes)
    if not prompts or not all(prompts):
        raise UsageError(f"{what} needs text prompts (the classes to look for), e.g. "
                         "--classes 'raccoon,dog'; got none or an empty one")
    return prompts


def load(source: str | os.PathLike, *, classes: Sequence[str] = (), device: str | None = None,
         template: str | None = None, max_detections: int = 300) -> Any:
    """The model at `source` (hub id or local folder) as the visionflow type its config's
    model_type calls for (see the module docstring). `classes`: the text prompts of a
    detector (required) or the default prompts of a crop classifier. `template` ("a photo
    of a {}."): how a classifier's prompt is worded. `max_detections`: the best queries a
    detector returns per image (of OWLv2's thousands)."""
    _require()
    src = resolve(source)
    kind = model_type(src)
    if kind in DETECTOR_TYPES:
        return TextPromptDetector(src, kind, _prompts(classes, f"{src.name} ({kind})"),
                                  device=device, max_detections=max_detections)
    if kind in CLASSIFIER_TYPES:
        return CropClassifier(src, kind, tuple(classes), device=device, template=template)
    if kind in SAM_TYPES:
        from .sam import SamSegmenter
        return SamSegmenter(src, device=device)
    known = ", ".join(DETECTOR_TYPES + CLASSIFIER_TYPES + SAM_TYPES)
    raise UsageError(f"{src.name}: model_type {kind or '(none)'!r} is not supported here "
                     f"(supported: {known})")


def _rebuild(source: str, kwargs: dict[str, Any]) -> Any:
    return load(source, **kwargs)


# --- open-vocabulary detection ---------------------------------------------------------------

class TextPromptDetector:
    """OWLv2 / OWL-ViT / Grounding DINO as a `Detector`: `info.classes` are the prompts, and
    `detect` returns up to `max_detections` boxes (every score: thresholding is the
    caller's) in the image's own pixels."""

    def __init__(self, src: Source, kind: str, prompts: tuple[str, ...], *,
                 device: str | None = None, max_detections: int = 300):
        import transformers as tf
        self.kind = kind
        self.max_detections = max(1, int(max_detections))
        model_cls = {"owlv2": tf.Owlv2ForObjectDetection, "owlvit": tf.OwlViTForObjectDetection,
                     "grounding-dino": tf.GroundingDinoForObjectDetection}[kind]
        self.model, self.processor = pretrained(src, model_cls, tf.AutoProcessor)
        self.device = _device(self.model, device)
        self.prompts = prompts
        self.name = f"hf:{src.name}"
        self._text = self._encode_text(prompts)
        self.info = ModelInfo(self.name, "detect", prompts, None,
                              fingerprint(src, kind, *prompts),
                              extra={"model_type": kind, "source": src.ref})

    def __reduce__(self):  # Ray workers and process pools load it again from its source
        return (_rebuild, (self.info.extra["source"], {"classes": self.prompts,
                                                       "max_detections": self.max_detections}))

    def _encode_text(self, prompts: tuple[str, ...]) -> dict[str, Any]:
        """The tokenized prompts (computed once), and for Grounding DINO which tokens belong
        to which prompt: its logits are per token of one "a. b. c." caption."""
        tok = self.processor.tokenizer
        if self.kind != "grounding-dino":
            return {"text": [list(prompts)]}    # OWL: one query per prompt
        caption, spans = "", []
        for p in prompts:
            p = p.lower()
            spans.append((len(caption), len(caption) + len(p)))
            caption += p + ". "
        caption = caption.strip()
        enc = tok(caption, return_offsets_mapping=True)
        limit = int(getattr(self.model.config, "max_text_len", 256))
        if len(enc["input_ids"]) > limit:
            raise UsageError(f"{self.name}: the prompts take {len(enc['input_ids'])} tokens, "
                             f"past the model's text length of {limit}; use fewer or shorter "
                             "prompts")
        owner = np.full(len(enc["input_ids"]), -1, np.int64)
        for t, (a, b) in enumerate(enc["offset_mapping"]):
            if b <= a:
                continue  # special tokens
            for k, (s, e) in enumerate(spans):
                if a >= s and b <= e:
                    owner[t] = k
        missing = [prompts[k] for k in range(len(prompts)) if not (owner == k).any()]
        if missing:
            raise UsageError(f"{self.name}: the prompts {missing} fall outside the "
                             "model's text length; use fewer or shorter prompts")
        return {"text": caption, "owner": owner}

    def detect(self, image: np.ndarray) -> Detections:
        import torch
        pil = _rgb(image)
        h, w = pil.height, pil.width
        inputs = self.processor(images=pil, text=self._text["text"], return_tensors="pt")
        inputs = {k: v.to(self.device) if hasattr(v, "to") else v for k, v in inputs.items()}
        with torch.inference_mode():
            out = self.model(**inputs)
        if self.kind == "grounding-dino":
            res = self.processor.post_process_grounded_object_detection(
                out, inputs["input_ids"], threshold=-1.0, text_threshold=0.0,
                target_sizes=[(h, w)])[0]
            probs = torch.sigmoid(out.logits[0]).float().cpu().numpy()     # (Q, tokens)
            owner = self._text["owner"]
            per = np.full((probs.shape[0], len(self.prompts)), 0.0, np.float32)
            n = min(len(owner), probs.shape[1])
            for k in range(len(self.prompts)):
                cols = np.flatnonzero(owner[:n] == k)
                per[:, k] = probs[:, cols].max(axis=1)
            labels = per.argmax(axis=1).astype(np.int32)
            scores = per.max(axis=1).astype(np.float32)
        else:
            res = self.processor.post_process_grounded_object_detection(
                out, threshold=-1.0, target_sizes=[(h, w)])[0]
            labels = res["labels"].cpu().numpy().astype(np.int32)
            scores = res["scores"].float().cpu().numpy().astype(np.float32)
        boxes = res["boxes"].float().cpu().numpy().astype(np.float32).reshape(-1, 4)
        if len(boxes) != len(scores):
            raise Error(f"{self.info.name}: post-processing kept {len(boxes)} boxes for "
                        f"{len(scores)} queries")
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h)
        # a box outside the image has no area once clipped: not a detection in it (nor are
        # boxes under MIN_SIDE px, which writers would round to zero size)
        inside = np.flatnonzero((boxes[:, 2] - boxes[:, 0] >= MIN_SIDE)
                                & (boxes[:, 3] - boxes[:, 1] >= MIN_SIDE))
        order = inside[np.argsort(-scores[inside], kind="stable")][:self.max_detections]
        return Detections(boxes[order], scores[order], labels[order])


# --- crop classification ---------------------------------------------------------------------

class CropClassifier:
    """CLIP / SigLIP zero-shot classification of box crops: each crop's scores over the
    prompts (CLIP: softmax of its image-text logits; SigLIP: their sigmoid, as each was
    trained). Used to re-label a detector's boxes with the dataset's own classes."""

    def __init__(self, src: Source, kind: str, prompts: tuple[str, ...] = (), *,
                 device: str | None = None, template: str | None = None, batch: int = 32):
        import transformers as tf
        self.kind = kind
        self.model, self.processor = pretrained(src, tf.AutoModel, tf.AutoProcessor)
        self.device = _device(self.model, device)
        self.template = "a photo of a {}." if template is None else template
        if "{}" not in self.template:
            raise UsageError(f"template {self.template!r} must contain {{}} (where the "
                             "prompt goes)")
        self.batch = max(1, int(batch))
        self.sigmoid = kind.startswith("siglip")
        self._text_cache: dict[tuple[str, ...], Any] = {}
        self.info = ModelInfo(f"hf:{src.name}", "classify", tuple(prompts), None,
                              fingerprint(src, kind, self.template),
                              extra={"model_type": kind, "source": src.ref})

    def __reduce__(self):
        return (_rebuild, (self.info.extra["source"], {"classes": self.info.classes,
                                                       "template": self.template}))

    def _text_features(self, prompts: tuple[str, ...]) -> Any:
        """L2-normalised text features of the worded prompts (cached per prompt list)."""
        import torch
        if prompts not in self._text_cache:
            texts = [self.template.format(p) for p in prompts]
            padding = "max_length" if self.sigmoid else True
            tok = self.processor.tokenizer(texts, padding=padding, truncation=True,
                                           return_tensors="pt")
            kwargs = {"input_ids": tok["input_ids"].to(self.device)}
            if "attention_mask" in tok and not self.sigmoid:
                kwargs["attention_mask"] = tok["attention_mask"].to(self.device)
            with torch.inference_mode():
                feats = self.model.get_text_features(**kwargs)
            feats = getattr(feats, "pooler_output", feats)
            self._text_cache[prompts] = feats / feats.norm(dim=-1, keepdim=True)
        return self._text_cache[prompts]

    def classify_crops(self, image: np.ndarray, boxes: np.ndarray,
                       prompts: Sequence[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(labels (N,) int32 indices into `prompts`, scores (N,) float32) for the N boxes
        (x1, y1, x2, y2 pixels, clipped to the image; a box under 1 px is widened to 1 px).
        `prompts` default to the classes given at load."""
        import torch
        prompts = _prompts(self.info.classes if prompts is None else prompts,
                           f"{self.info.name} (crop classification)")
        pil = _rgb(image)
        b = np.asarray(boxes, np.float64).reshape(-1, 4)
        if not len(b):
            return np.zeros(0, np.int32), np.zeros(0, np.float32)
        if not np.isfinite(b).all():
            raise ValueError("boxes: not finite numbers")
        text = self._text_features(tuple(prompts))
        model = self.model
        scale = model.logit_scale.exp()
        bias = getattr(model, "logit_bias", None)
        labels, scores = [], []
        for start in range(0, len(b), self.batch):
            crops = [pil.crop(_crop_box(r, pil.width, pil.height))
                     for r in b[start:start + self.batch]]
            with torch.inference_mode():
                px = self.processor.image_processor(images=crops, return_tensors="pt")
                # SigLIP 2 also takes its patches' mask and shapes: pass all the processor gives
                feats = model.get_image_features(**{k: v.to(self.device)
                                                    for k, v in px.items()})
                feats = getattr(feats, "pooler_output", feats)
                feats = feats / feats.norm(dim=-1, keepdim=True)
                logits = feats @ text.T * scale
                if bias is not None:
                    logits = logits + bias
                p = torch.sigmoid(logits) if self.sigmoid else logits.softmax(dim=-1)
            best = p.max(dim=-1)
            labels.append(best.indices.cpu().numpy().astype(np.int32))
            scores.append(best.values.float().cpu().numpy().astype(np.float32))
        return np.concatenate(labels), np.concatenate(scores)


def _crop_box(row: np.ndarray, width: int, height: int) -> tuple[int, int, int, int]:
    """A box as whole pixels inside the image, at least 1 x 1."""
    x1, x2 = sorted(np.clip([row[0], row[2]], 0, width))
    y1, y2 = sorted(np.clip([row[1], row[3]], 0, height))
    left, top = min(int(np.floor(x1)), width - 1), min(int(np.floor(y1)), height - 1)
    right = min(max(int(np.ceil(x2)), left + 1), width)
    bottom = min(max(int(np.ceil(y2)), top + 1), height)
    return left, top, right, bottom
