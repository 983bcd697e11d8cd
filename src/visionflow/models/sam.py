"""SAM (Segment Anything) through transformers: the image encoder runs once per image on the
server (cached), the small prompt decoder runs per click, in Python or in the browser.

`SamSegmenter` is a `Segmenter` over a transformers `SamModel` named by hub id or folder. Its
image embedding is cached by the image's content (sha256 of the file's bytes, or of the pixels)
and the model's fingerprint: in memory (a few images) and under the visionflow cache
(<cache>/sam/<fingerprint>/<sha256>.npz), so a second click, a second visit or a restarted
server does not run the encoder again.

## The exported decoder (`export_decoder`), for onnxruntime-web

Inputs (float32):
- `image_embeddings` (1, C, h, w): the embedding as served by POST /api/sam/embedding/{id}
  (little-endian float32, C order; shape in X-Shape; real SAM: (1, 256, 64, 64)).
- `point_coords` (1, N, 2): x, y in the model's input frame (see below), N >= 1.
- `point_labels` (1, N): 1 = on the object, 0 = background, 2 = box top-left corner,
  3 = box bottom-right corner, -1 = padding point. A box is two points (x1, y1) label 2 and
  (x2, y2) label 3, after the clicks. Without a box append one padding point (0, 0) label -1
  (as SAM's own ONNX demo does; transformers pads the same way), so the decoder sees what the
  Python path sees.

Outputs:
- `masks` (1, 4, 4h, 4w) float32 logits, low resolution (real SAM 256 x 256): mask 0 is
  SAM's single-mask answer, masks 1..3 its three answers for an ambiguous prompt (whole,
  part, sub-part).
- `iou_scores` (1, 4): the model's estimate of each mask's IoU.
Which mask (as `SamSegmenter.segment` chooses, following SAM's advice): exactly one click and
no box -> the highest-scoring of masks 1..3; otherwise mask 0.

Coordinate transform (headers of the embedding response): the image of W x H pixels
(X-Image-Size "W,H", upright: EXIF orientation applied, as browsers show it) was resized so its
longest side is S (X-Pad-Size "S") to w x h (X-Input-Size "w,h", each side rounded) and padded
at the right/bottom to S x S. A click at image pixel (x, y) is (x * w / W, y * h / H) in the
input frame (X-Scale is S / max(W, H), the same up to the rounding of w and h).
Mask back to image pixels: upsample `masks[0, k]` bilinearly (align_corners false) to S x S,
crop [0:h, 0:w], resize bilinearly to H x W, and keep logits > 0 (transformers'
`post_process_masks`). `mask_to_polygons` (models/masks.py) then gives the polygon.
"""

from __future__ import annotations

import hashlib
import io
import os
import threading
import zipfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import Error, UsageError
from .base import ModelInfo
from .hf import SAM_TYPES, Source, _device, fingerprint, model_type, pretrained, resolve

DECODER_INPUTS = ("image_embeddings", "point_coords", "point_labels")
DECODER_OUTPUTS = ("masks", "iou_scores")
EMBED_VERSION = "sam-embed-1"     # part of the cache key: what the cached arrays mean
DECODER_VERSION = "sam-decoder-2"  # the exported decoder's contract (4 masks)
MEMORY = 8                        # embeddings kept in memory (real SAM: 4 MiB each)


@dataclass(frozen=True)
class Embedding:
    """One image's SAM embedding and the sizes that map its pixels to the model's input."""
    array: np.ndarray                 # (1, C, h, w) float32
    image_size: tuple[int, int]       # (W, H) of the image, upright
    input_size: tuple[int, int]       # (w, h) after resizing the longest side to pad_size
    pad_size: int                     # S: the square the model sees

    @property
    def scale(self) -> float:
        return self.pad_size / max(self.image_size)

    def to_input(self, xy: np.ndarray) -> np.ndarray:
        """Image pixels (..., 2) -> the model input frame (as transformers' processor)."""
        xy = np.asarray(xy, np.float64)
        (w_img, h_img), (w_in, h_in) = self.image_size, self.input_size
        return (xy * np.array([w_in / w_img, h_in / h_img])).astype(np.float32)

    def headers(self) -> dict[str, str]:
        """What the browser needs to use it (see the module docstring)."""
        return {"X-Shape": ",".join(str(d) for d in self.array.shape),
                "X-Scale": f"{self.scale:.9g}",
                "X-Input-Size": f"{self.input_size[0]},{self.input_size[1]}",
                "X-Image-Size": f"{self.image_size[0]},{self.image_size[1]}",
                "X-Pad-Size": str(self.pad_size)}


class SamSegmenter:
    """A transformers SAM as a `Segmenter`, with the image embedding cached per image."""

    def __init__(self, source: str | os.PathLike | Source, *, device: str | None = None):
        from transformers import SamModel, SamProcessor
        src = source if isinstance(source, Source) else resolve(source)
        if not isinstance(source, Source):
            kind = model_type(src)
            if kind not in SAM_TYPES:
                raise UsageError(f"{src.name}: a {kind or 'model'} model, not SAM (a SAM model "
                                 "is e.g. facebook/sam-vit-base, or a folder saved from one)")
        self.source = src
        self.model, self.processor = pretrained(src, SamModel, SamProcessor)
        self.device = _device(self.model, device)
        cfg = self.model.config
        self.pad_size = int(cfg.prompt_encoder_config.image_size)
        self.info = ModelInfo(f"hf:{src.name}", "segment", (), (self.pad_size, self.pad_size),
                              fingerprint(src, "sam", EMBED_VERSION),
                              extra={"model_type": "sam", "source": src.ref})
        self._memory: OrderedDict[str, Embedding] = OrderedDict()
        self._lock = threading.Lock()     # one forward at a time (the server's thread pool)
        self._mem_lock = threading.Lock()

    def __reduce__(self):  # Ray workers and process pools load it again from its source
        return (load_sam, (self.source.ref,))

    # -- embeddings --------------------------------------------------------------------------

    def _cache_file(self, key: str) -> Path:
        from ..io.cache import cache_dir
        return cache_dir("sam", self.info.fingerprint[:20]) / f"{key}.npz"

    def _remember(self, key: str, emb: Embedding) -> Embedding:
        with self._mem_lock:
            self._memory[key] = emb
            self._memory.move_to_end(key)
            while len(self._memory) > MEMORY:
                self._memory.popitem(last=False)
        return emb

    def _cached(self, key: str) -> Embedding | None:
        with self._mem_lock:
            if key in self._memory:
                self._memory.move_to_end(key)
                return self._memory[key]
        path = self._cache_file(key)
        try:
            with np.load(path) as z:
                emb = Embedding(z["array"].astype(np.float32, copy=False),
                                tuple(int(v) for v in z["image_size"]),
                                tuple(int(v) for v in z["input_size"]), int(z["pad_size"]))
        except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile):
            return None         # not cached, or a damaged entry: computed again
        return self._remember(key, emb)

    def _compute(self, key: str, pil: Any) -> Embedding:
        import torch
        with self._lock:
            done = self._cached(key)     # a concurrent request for the same image got here first
            if done is not None:
                return done
            inputs = self.processor(images=pil, return_tensors="pt")
            with torch.inference_mode():
                arr = self.model.get_image_embeddings(inputs["pixel_values"].to(self.device))
            h_in, w_in = (int(v) for v in inputs["reshaped_input_sizes"][0])
            emb = Embedding(np.ascontiguousarray(arr.float().cpu().numpy(), np.float32),
                            (pil.width, pil.height), (w_in, h_in), self.pad_size)
            buf = io.BytesIO()
            np.savez(buf, array=emb.array, image_size=np.array(emb.image_size),
                     input_size=np.array(emb.input_size), pad_size=np.array(emb.pad_size))
            try:
                from ..io.cache import put_file
                put_file(self._cache_file(key), buf.getvalue())
            except (OSError, Error):
                pass            # a read-only cache: the embedding is used, not kept
            return self._remember(key, emb)

    def embed(self, image: np.ndarray) -> Embedding:
        """The embedding of an RGB uint8 image (H, W, 3), cached by its pixels' sha256."""
        from .hf import _rgb
        pil = _rgb(image)
        arr = np.ascontiguousarray(image)
        key = hashlib.sha256(f"{arr.shape}".encode() + arr.tobytes()).hexdigest()
        return self._cached(key) or self._compute(key, pil)

    def embed_file(self, path: str | os.PathLike) -> Embedding:
        """The embedding of an image file (upright, EXIF applied), cached by the sha256 of
        its bytes: a cached image is not even decoded."""
        p = Path(path)
        try:
            data = p.read_bytes()
        except OSError as e:
            raise Error(f"{p}: cannot read the image ({e.strerror or e})") from None
        key = "file-" + hashlib.sha256(data).hexdigest()
        cached = self._cached(key)
        if cached is not None:
            return cached
        from ..io.images import load_rgb
        return self._compute(key, load_rgb(p, data=data))

    # -- prompts -----------------------------------------------------------------------------

    def segment(self, image: np.ndarray, *, box: np.ndarray | None = None,
                points: np.ndarray | None = None, labels: np.ndarray | None = None
                ) -> np.ndarray:
        """(H, W) bool mask of the object given by a box and/or clicks (see `Segmenter`).
        One click alone is ambiguous: SAM's three masks are made and the one it scores
        highest is returned; with several prompts its single mask."""
        emb = self.embed(image)
        return self.segment_embedding(emb, box=box, points=points, labels=labels)

    def segment_embedding(self, emb: Embedding, *, box: np.ndarray | None = None,
                          points: np.ndarray | None = None, labels: np.ndarray | None = None
                          ) -> np.ndarray:
        """`segment` on an embedding already computed (`embed`, `embed_file`)."""
        import torch
        pts, lab, bx = check_prompt(box, points, labels, emb.image_size)
        kwargs: dict[str, Any] = {}
        if pts is not None:
            kwargs["input_points"] = torch.from_numpy(emb.to_input(pts)[None, None])
            kwargs["input_labels"] = torch.from_numpy(lab.astype(np.int64)[None, None])
        if bx is not None:
            kwargs["input_boxes"] = torch.from_numpy(emb.to_input(bx.reshape(2, 2))
                                                     .reshape(1, 1, 4))
        multimask = bx is None and pts is not None and len(pts) == 1
        with self._lock, torch.inference_mode():
            out = self.model(image_embeddings=torch.from_numpy(emb.array).to(self.device),
                             multimask_output=multimask,
                             **{k: v.to(self.device) for k, v in kwargs.items()})
        w, h = emb.image_size
        masks = self.processor.image_processor.post_process_masks(
            out.pred_masks.cpu(), [(h, w)], [(emb.input_size[1], emb.input_size[0])])[0]
        best = int(out.iou_scores[0, 0].argmax())
        return masks[0, best].numpy().astype(bool)


def check_prompt(box: Any, points: Any, labels: Any, image_size: tuple[int, int]
                 ) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """(points (N, 2), labels (N,), box (4,)) as float arrays, or one line saying what is
    wrong: a prompt needs a box or at least one click; labels are 0/1, one per point."""
    pts = lab = bx = None
    if points is not None and len(np.asarray(points)):
        pts = np.asarray(points, np.float64)
        if pts.ndim != 2 or pts.shape[1] != 2 or not np.isfinite(pts).all():
            raise UsageError(f"points: expected (N, 2) numbers x, y; got shape {pts.shape}")
        lab = np.ones(len(pts), np.int64) if labels is None else np.asarray(labels)
        if lab.shape != (len(pts),) or not np.isin(lab, (0, 1)).all():
            raise UsageError(f"labels: expected {len(pts)} values of 1 (on the object) or 0 "
                             f"(background), got {np.asarray(labels).tolist()}")
        lab = lab.astype(np.int64)
    if box is not None:
        bx = np.asarray(box, np.float64).reshape(-1)
        if bx.shape != (4,) or not np.isfinite(bx).all() or bx[2] <= bx[0] or bx[3] <= bx[1]:
            raise UsageError(f"box: expected x1, y1, x2, y2 with x2 > x1 and y2 > y1, got "
                             f"{bx.tolist()}")
    if pts is None and bx is None:
        raise UsageError("a SAM prompt needs a box or at least one point")
    return pts, lab, bx


# --- the browser's decoder ---------------------------------------------------------------------

def _sam_model(model: Any) -> Any:
    net = getattr(model, "model", model)
    if not (hasattr(net, "prompt_encoder") and hasattr(net, "mask_decoder")):
        raise UsageError(f"export_decoder needs a SAM model, got {type(model).__name__}")
    return net


def decoder_module(model: Any) -> Any:
    """The prompt encoder + mask decoder of a transformers SamModel as one torch module with
    the inputs and outputs of the exported ONNX decoder (module docstring)."""
    import torch
    net = _sam_model(model)

    class _Decoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.prompt = net.prompt_encoder
            self.decoder = net.mask_decoder
            self.size = int(net.config.prompt_encoder_config.image_size)
            with torch.no_grad():
                self.register_buffer("image_pe", net.get_image_wide_positional_embeddings())

        def forward(self, image_embeddings, point_coords, point_labels):
            pe = self.prompt
            coords = (point_coords + 0.5)[:, None]                       # (1, 1, N, 2)
            labels = point_labels[:, None, :, None]                      # (1, 1, N, 1)
            sparse = pe.shared_embedding(coords, (self.size, self.size))
            sparse = torch.where(labels == -1, pe.not_a_point_embed.weight, sparse)
            for k in range(4):     # 0/1: negative/positive click, 2/3: box corners
                sparse = sparse + (labels == k).to(sparse.dtype) * pe.point_embed[k].weight
            h, w = image_embeddings.shape[-2:]
            dense = pe.no_mask_embed.weight.reshape(1, -1, 1, 1).expand(1, -1, h, w)
            return _all_masks(self.decoder, image_embeddings, self.image_pe, sparse, dense)

    return _Decoder().eval()


def _all_masks(dec: Any, image_embeddings: Any, image_pe: Any, sparse: Any, dense: Any
               ) -> tuple[Any, Any]:
    """transformers' SamMaskDecoder.forward for one image and one prompt, returning every
    mask token's mask and score (its own forward keeps either token 0 or tokens 1..3), so the
    browser can choose as `SamSegmenter.segment` does. The tests hold it equal to the
    original for both choices."""
    import torch
    _, channels, height, width = image_embeddings.shape
    tokens = torch.cat([dec.iou_token.weight, dec.mask_tokens.weight], dim=0)[None, None]
    tokens = torch.cat((tokens, sparse), dim=2)
    point_embedding, emb = dec.transformer(point_embeddings=tokens,
                                           image_embeddings=image_embeddings + dense,
                                           image_positional_embeddings=image_pe,
                                           attention_similarity=None, target_embedding=None)[:2]
    iou_token = point_embedding[:, :, 0, :]
    mask_tokens = point_embedding[:, :, 1:1 + dec.num_mask_tokens, :]
    emb = emb.transpose(2, 3).reshape(1, channels, height, width)
    up = dec.activation(dec.upscale_layer_norm(dec.upscale_conv1(emb)))
    up = dec.activation(dec.upscale_conv2(up))
    hyper = torch.stack([mlp(mask_tokens[:, :, i, :])
                         for i, mlp in enumerate(dec.output_hypernetworks_mlps)], dim=2)
    _, c, h, w = up.shape
    masks = (hyper @ up.reshape(1, 1, c, h * w)).reshape(1, -1, h, w)
    return masks, dec.iou_prediction_head(iou_token)[:, 0]


def export_decoder(model: Any, path: str | os.PathLike, *, opset: int = 17) -> Path:
    """Write the prompt decoder of `model` (a SamSegmenter or transformers SamModel) as ONNX
    at `path` (atomically), for onnxruntime-web; inputs/outputs in the module docstring."""
    import tempfile

    import torch
    net = _sam_model(model)
    module = decoder_module(net)
    cfg = net.config
    c = int(cfg.prompt_encoder_config.hidden_size)
    side = int(cfg.prompt_encoder_config.image_embedding_size)
    s = int(cfg.prompt_encoder_config.image_size)
    example = (torch.zeros(1, c, side, side), torch.tensor([[[s / 2, s / 2], [0.0, 0.0]]]),
               torch.tensor([[1.0, -1.0]]))
    dest = Path(path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".partial", dir=dest.parent)
    os.close(fd)
    try:
        import warnings
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(module, example, tmp, input_names=list(DECODER_INPUTS),
                              output_names=list(DECODER_OUTPUTS), opset_version=opset,
                              dynamic_axes={"point_coords": {1: "points"},
                                            "point_labels": {1: "points"}},
                              dynamo=False)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return dest


def decoder_file(model: SamSegmenter) -> Path:
    """The model's exported decoder in the visionflow cache (exported once per model)."""
    import transformers

    from ..io.cache import cache_dir
    tag = hashlib.sha256(f"{DECODER_VERSION}\0{transformers.__version__}".encode()
                         ).hexdigest()[:12]     # another export, another file
    path = cache_dir("sam", model.info.fingerprint[:20]) / f"decoder-{tag}.onnx"
    if not path.is_file():
        with model._lock:
            if not path.is_file():
                export_decoder(model, path)
    return path


def load_sam(source: str | os.PathLike, *, device: str | None = None) -> SamSegmenter:
    """A SAM model by hub id or folder (the web app's --sam)."""
    from .hf import _require
    _require()
    return SamSegmenter(source, device=device)
