"""Model embedders: Hugging Face `transformers` (CLIP, SigLIP, DINOv2) and ONNX Runtime.

Both give L2-normalised float32 rows, so every consumer compares them by dot product. Their
EmbedderInfo records what changes the numbers: the image processor's settings (size, crop,
mean/std, resampling, and which processor backend) and a digest of the weight files, so a
retrained or swapped model gets a new store key, never old rows.

torch, transformers and onnxruntime are imported here, on first use, never by
`import visionflow` (the `embed` extra).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from PIL import Image

from ..core.errors import Error, UsageError
from .base import EmbedderInfo

EXTRA = "pip install 'visionflow[embed]'"
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".msgpack", ".h5", ".onnx")
TEXT_MODEL_TYPES = ("clip", "siglip", "siglip2", "chinese_clip", "altclip", "metaclip_2")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _jsonable(value: Any) -> Any:
    """A settings dict as plain JSON values (enums and tuples become ints and lists)."""
    return orjson.loads(orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS))


def _l2(rows: np.ndarray) -> np.ndarray:
    rows = np.asarray(rows, np.float32).reshape(len(rows), -1)
    norm = np.linalg.norm(rows, axis=1, keepdims=True)
    return rows / np.where(norm > 0, norm, 1.0).astype(np.float32)


_DIGESTS: dict[tuple[str, int, int], str] = {}


def file_digest(path: Path) -> str:
    """SHA-256 of a file; a Hugging Face cache link to blobs/<sha256> gives it for free, and a
    file already hashed in this process (same size and mtime) is not read again."""
    target = Path(os.path.realpath(path))
    name = target.name
    if path.is_symlink() and len(name) == 64 and all(c in "0123456789abcdef" for c in name):
        return name
    st = target.stat()
    memo = (str(target), st.st_size, st.st_mtime_ns)
    if memo not in _DIGESTS:
        with open(target, "rb") as f:
            _DIGESTS[memo] = hashlib.file_digest(f, "sha256").hexdigest()
    return _DIGESTS[memo]


def weights_fingerprint(folder: Path, files: Sequence[Path] | None = None) -> str:
    """Digest of a model's weight files (and config.json): which weights these are."""
    if files is None:
        files = sorted(p for p in folder.rglob("*")
                       if p.is_file() and (p.suffix in WEIGHT_SUFFIXES or p.name == "config.json"))
    h = hashlib.sha256()
    for p in files:
        h.update(f"{p.relative_to(folder).as_posix()}\0{file_digest(p)}\0".encode())
    return h.hexdigest()[:32]


# --- transformers ---------------------------------------------------------------------------

class TransformersEmbedder:
    """A Hugging Face model by hub id or local folder: CLIP and SigLIP (image and text
    features in one space), DINOv2 and other vision backbones (the pooled CLS output; images
    only). Rows are L2-normalised float32; inference runs batched under torch.inference_mode
    with the model in eval mode, so the same image always gives the same row."""

    def __init__(self, model: str | os.PathLike, *, device: str | None = None,
                 batch: int = 32):
        try:
            import torch  # noqa: F401
            import transformers  # noqa: F401
        except ImportError:
            raise Error(f"model embeddings need torch and transformers: {EXTRA}") from None
        self.source = str(model)
        self.batch = max(1, int(batch))
        folder = Path(self.source).expanduser()
        local = folder.is_dir()
        if not local and (self.source.startswith((".", "/", "~")) or os.sep in self.source
                          and self.source.count("/") > 1 or folder.exists()):
            raise Error(f"{self.source}: no such model folder (a model is a Hugging Face hub "
                        "id like openai/clip-vit-base-patch32, a folder saved with "
                        "save_pretrained, a .onnx file, or phash/dhash/whash)")
        offline = local or _offline()
        where = (f"the folder {folder.absolute()}" if local else
                 f"the Hugging Face cache only ({_hf_cache()}; HF_HUB_OFFLINE=1 is set)"
                 if offline else "the Hugging Face hub and its cache")
        ref = str(folder) if local else self.source
        with _quiet_transformers():
            self._load(ref, offline, where, folder if local else None, device)

    def _load(self, ref: str, offline: bool, where: str, folder: Path | None,
              device: str | None) -> None:
        import torch
        from transformers import AutoConfig, AutoImageProcessor, AutoModel
        local = folder is not None
        try:
            config = AutoConfig.from_pretrained(ref, local_files_only=offline)
            net = AutoModel.from_pretrained(ref, local_files_only=offline)
            processor = AutoImageProcessor.from_pretrained(ref, local_files_only=offline)
        except ImportError as e:
            raise Error(f"model {self.source}: {_first_line(e)} ({EXTRA})") from None
        except Exception as e:  # noqa: BLE001 - not there, offline, damaged: the user's to fix
            raise Error(f"cannot load model {self.source!r}: looked in {where}: "
                        f"{_first_line(e)}") from None
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.model = net.to(self.device).eval()
        self.processor = processor
        self.model_type = str(getattr(config, "model_type", ""))
        self.tokenizer = None
        text = hasattr(net, "get_text_features")
        if text:
            from transformers import AutoTokenizer
            try:
                self.tokenizer = AutoTokenizer.from_pretrained(ref, local_files_only=offline)
            except (OSError, ValueError, KeyError, ImportError, TypeError):
                text = False  # a vision tower saved without its tokenizer: images only
        self._image_features = hasattr(net, "get_image_features")
        try:
            dim = self._probe_dim()
        except Exception as e:  # noqa: BLE001 - a model that is no image encoder
            raise Error(f"model {self.source!r} ({self.model_type or '?'}) cannot embed an "
                        f"image ({_first_line(e)}); use an image model such as CLIP, SigLIP "
                        "or DINOv2") from None
        root, files = self._weight_files(folder, ref)
        prep = {"processor": _jsonable({k: v for k, v in processor.to_dict().items()
                                        if k not in ("processor_class", "_processor_class")}),
                "processor_class": type(processor).__name__,  # the PIL or torchvision backend
                "model_type": self.model_type,
                "features": "image_features" if self._image_features else "pooler_output"}
        if text:
            prep["text_padding"] = self._padding()
        name = f"hf:{folder.absolute().name if local else self.source}"
        self.info = EmbedderInfo(name, "vector", dim, prep,
                                 weights_fingerprint(root, files) if files else "", text)

    def __reduce__(self):  # Ray workers and process pools rebuild it from the same source
        return (_rebuild_transformers, (self.source, self.batch))

    def _padding(self) -> str:
        # SigLIP was trained on text padded to its full length; CLIP on the longest in a batch
        return "max_length" if self.model_type.startswith("siglip") else "longest"

    @staticmethod
    def _weight_files(folder: Path | None, ref: str) -> tuple[Path, list[Path]]:
        """The model's folder and its weight files (and config.json): the local folder, or
        for a hub id its snapshot in the Hugging Face cache (links to blobs/<sha256>)."""
        if folder is None:
            try:
                from huggingface_hub import snapshot_download
                folder = Path(snapshot_download(ref, local_files_only=True))
            except Exception:  # noqa: BLE001 - no snapshot (a custom cache): no fingerprint
                return Path("."), []
        return folder, sorted(p for p in folder.rglob("*") if p.is_file() and (
            p.suffix in WEIGHT_SUFFIXES or p.name == "config.json"))

    def _forward_images(self, pixel_values) -> Any:
        if self._image_features:
            out = self.model.get_image_features(pixel_values=pixel_values)
        else:
            out = self.model(pixel_values=pixel_values)
            pooled = getattr(out, "pooler_output", None)
            return pooled if pooled is not None else out.last_hidden_state[:, 0]
        return out if not hasattr(out, "pooler_output") else out.pooler_output

    def _probe_dim(self) -> int:
        import torch
        size = _processor_size(self.processor)
        probe = Image.new("RGB", (size, size))
        with torch.inference_mode():
            px = self.processor(images=[probe], return_tensors="pt")["pixel_values"]
            return int(self._forward_images(px.to(self.device)).shape[-1])

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        """(n, dim) float32 L2-normalised rows, computed `batch` images at a time."""
        import torch
        out = np.empty((len(images), self.info.dim), np.float32)
        for start in range(0, len(images), self.batch):
            chunk = [im.convert("RGB") for im in images[start:start + self.batch]]
            with torch.inference_mode():
                px = self.processor(images=chunk, return_tensors="pt")["pixel_values"]
                feats = self._forward_images(px.to(self.device))
            out[start:start + len(chunk)] = _l2(feats.float().cpu().numpy())
        return out

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """(n, dim) float32 L2-normalised rows in the image space (CLIP, SigLIP)."""
        if not self.info.text or self.tokenizer is None:
            kind = self.model_type or "a vision model"
            raise UsageError(f"{self.info.name} embeds images only ({kind}); text search needs "
                             "a CLIP or SigLIP model, e.g. --model openai/clip-vit-base-patch32")
        import torch
        limit = _text_length(self.model.config)
        rows = []
        for start in range(0, len(texts), self.batch):
            chunk = list(texts[start:start + self.batch])
            tok = self.tokenizer(chunk, padding=self.info.preprocessing["text_padding"],
                                 truncation=True, max_length=limit, return_tensors="pt")
            kwargs = {"input_ids": tok["input_ids"].to(self.device)}
            if "attention_mask" in tok and not self.model_type.startswith("siglip"):
                kwargs["attention_mask"] = tok["attention_mask"].to(self.device)
            with torch.inference_mode():
                out = self.model.get_text_features(**kwargs)
            feats = out.pooler_output if hasattr(out, "pooler_output") else out
            rows.append(_l2(feats.float().cpu().numpy()))
        return np.concatenate(rows) if rows else np.zeros((0, self.info.dim), np.float32)


class _quiet_transformers:
    """transformers' own warnings and progress bars off while a model loads (the library
    never prints; what matters is said by our errors), restored afterwards."""

    def __enter__(self):
        from transformers.utils import logging
        self.level = logging.get_verbosity()
        self.bars = logging.is_progress_bar_enabled()
        logging.set_verbosity_error()
        logging.disable_progress_bar()
        import logging as std  # huggingface_hub logs every network retry while offline
        self.hub = std.getLogger("huggingface_hub")
        self.hub_level = self.hub.level
        self.hub.setLevel(std.ERROR)
        return self

    def __exit__(self, *exc: object) -> None:
        from transformers.utils import logging
        logging.set_verbosity(self.level)
        self.hub.setLevel(self.hub_level)
        if self.bars:
            logging.enable_progress_bar()


def _rebuild_transformers(source: str, batch: int) -> TransformersEmbedder:
    return TransformersEmbedder(source, batch=batch)


def _hf_cache() -> str:
    try:
        from huggingface_hub.constants import HF_HUB_CACHE
        return str(HF_HUB_CACHE)
    except ImportError:  # pragma: no cover
        return "~/.cache/huggingface/hub"


def _processor_size(processor: Any) -> int:
    """The square side the processor feeds the model (crop, else resize target), for the
    probe that finds the output dimension."""
    for attr in ("crop_size", "size"):
        size = getattr(processor, attr, None)
        if isinstance(size, dict):
            for k in ("height", "shortest_edge", "width"):
                if size.get(k):
                    return int(size[k])
        elif isinstance(size, int):
            return size
    return 224


def _text_length(config: Any) -> int | None:
    text = getattr(config, "text_config", None)
    n = getattr(text, "max_position_embeddings", None) if text is not None else None
    return int(n) if n else None


# --- ONNX -----------------------------------------------------------------------------------

class OnnxEmbedder:
    """An image model exported to ONNX, run by onnxruntime on the CPU (no torch).

    Preprocessing comes from a sidecar JSON (model.json beside model.onnx, or the folder's
    preprocessor_config.json): {"size": 224, "mean": [...], "std": [...], "resize":
    "shortest" | "stretch", "crop": true}; missing entries default to the input's static
    size (else 224), ImageNet mean/std, shortest-side resize and a centre crop. The first
    output is the embedding (the first token of a (n, tokens, dim) output).
    """

    def __init__(self, path: str | os.PathLike):
        try:
            import onnxruntime as ort
        except ImportError:
            raise Error(f"ONNX embeddings need onnxruntime: {EXTRA}") from None
        p = Path(path).expanduser()
        self.source = str(path)
        file = p / "model.onnx" if p.is_dir() else p
        if not file.is_file():
            raise Error(f"{file}: no such ONNX model file")
        try:
            opts = ort.SessionOptions()
            opts.log_severity_level = 3
            self.session = ort.InferenceSession(str(file), opts,
                                                providers=["CPUExecutionProvider"])
        except Exception as e:  # noqa: BLE001 - onnxruntime raises its own unrelated types
            raise Error(f"{file}: cannot load the ONNX model ({_first_line(e)})") from None
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        shape = list(inp.shape)
        static = [d for d in shape[2:4] if isinstance(d, int) and d > 0]
        self.fixed_batch = shape[0] if isinstance(shape[0], int) and shape[0] > 0 else None
        side = _sidecar(file)
        size = side.get("size", static[0] if len(static) == 2 and static[0] == static[1]
                        else static or 224)
        if isinstance(size, dict):
            size = [size.get("height", 224), size.get("width", 224)]
        h, w = (int(size[0]), int(size[1])) if isinstance(size, list | tuple) \
            else (int(size), int(size))
        prep = {"size": [h, w],
                "mean": [float(v) for v in side.get("mean", side.get("image_mean",
                                                                     IMAGENET_MEAN))],
                "std": [float(v) for v in side.get("std", side.get("image_std", IMAGENET_STD))],
                "resize": str(side.get("resize", "shortest")),
                "crop": bool(side.get("crop", side.get("do_center_crop", True))),
                "scale": float(side.get("scale", side.get("rescale_factor", 1 / 255))),
                "layout": "NCHW", "resample": "bicubic"}
        if prep["resize"] not in ("shortest", "stretch"):
            raise Error(f"{file}: sidecar 'resize' must be 'shortest' or 'stretch', got "
                        f"{prep['resize']!r}")
        self.prep = prep
        probe = self._run(self._pixels([Image.new("RGB", (w, h))]))
        self.info = EmbedderInfo(f"onnx:{file.name}", "vector", int(probe.shape[-1]), prep,
                                 weights_fingerprint(file.parent, [file]), False)

    def __reduce__(self):
        return (OnnxEmbedder, (self.source,))

    def _pixels(self, images: Sequence[Image.Image]) -> np.ndarray:
        h, w = self.prep["size"]
        mean = np.asarray(self.prep["mean"], np.float32)
        std = np.asarray(self.prep["std"], np.float32)
        out = np.empty((len(images), 3, h, w), np.float32)
        for i, im in enumerate(images):
            im = im.convert("RGB")
            if self.prep["resize"] == "stretch":
                im = im.resize((w, h), Image.Resampling.BICUBIC)
            else:
                scale = max(h / im.height, w / im.width) if self.prep["crop"] else \
                    min(h / im.height, w / im.width)
                nw, nh = max(1, round(im.width * scale)), max(1, round(im.height * scale))
                im = im.resize((nw, nh), Image.Resampling.BICUBIC)
                left, top = (nw - w) // 2, (nh - h) // 2
                im = im.crop((left, top, left + w, top + h))  # pads with black when smaller
            arr = np.asarray(im, np.float32) * self.prep["scale"]
            out[i] = ((arr - mean) / std).transpose(2, 0, 1)
        return out

    def _run(self, pixels: np.ndarray) -> np.ndarray:
        step = self.fixed_batch or len(pixels) or 1
        rows = []
        for start in range(0, len(pixels), step):
            y = self.session.run(None, {self.input_name: pixels[start:start + step]})[0]
            y = np.asarray(y, np.float32)
            if y.ndim == 3:
                y = y[:, 0]
            rows.append(y.reshape(len(y), -1))
        return np.concatenate(rows)

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        if not len(images):
            return np.zeros((0, self.info.dim), np.float32)
        return _l2(self._run(self._pixels(images)))

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        raise UsageError(f"{self.info.name} embeds images only; text search needs a CLIP or "
                         "SigLIP model through transformers (--model "
                         "openai/clip-vit-base-patch32)")


def _sidecar(file: Path) -> dict:
    for cand in (file.with_suffix(".json"), file.parent / "preprocessor_config.json"):
        if cand.is_file():
            try:
                data = orjson.loads(cand.read_bytes())
            except orjson.JSONDecodeError as e:
                raise Error(f"{cand}: not valid JSON ({e})") from None
            if not isinstance(data, dict):
                raise Error(f"{cand}: expected a JSON object of preprocessing settings")
            if "crop_size" in data and "size" not in data:
                data["size"] = data["crop_size"]
            if isinstance(data.get("size"), dict) and "shortest_edge" in data["size"]:
                data["size"] = data.get("crop_size", data["size"]["shortest_edge"])
            return data
    return {}
