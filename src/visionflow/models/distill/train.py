"""`visionflow distill`: train the student detector on a teacher's labels, on CPU.

Why it is fast enough on two cores: the pretrained backbone's lower part (up to stride 16) is
frozen, so its features are computed once per image and per flip and kept in memory (within
a budget; beyond it they are recomputed per batch), and each step trains only the top
backbone blocks and the CenterNet head. Every epoch's order and flips come from
(seed, epoch) alone and the checkpoint holds the weights and the optimizer, so a resumed run
continues exactly where the interrupted one would have been.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...core.dataset import Dataset
from ...core.errors import Error
from .backbone import _torch
from .student import STRIDE, build_student

STUDENTS = ("mobilenetv2-detector",)
CHECKPOINT = "checkpoint.pt"
VAL_SPLITS = ("val", "test")
CACHE_MB = 2048


@dataclass
class EpochStats:
    epoch: int            # 1-based
    epochs: int
    loss: float           # mean training loss over the epoch
    seconds_per_step: float
    steps: int


@dataclass
class DistillResult:
    out: Path
    epochs_run: int                       # epochs trained in this call (0: all were done)
    history: list[dict] = field(default_factory=list)  # one EpochStats dict per epoch
    onnx: Path | None = None
    tflite: dict[str, str] = field(default_factory=dict)  # kind -> path, or the reason
    report: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"out": str(self.out), "epochs_run": self.epochs_run, "history": self.history,
                "onnx": None if self.onnx is None else str(self.onnx),
                "tflite": self.tflite, "report": self.report}


def load_source(src: str | Path | Dataset, workspace: str | Path | None = None) -> Dataset:
    """SRC as a Dataset: a dataset in memory, a folder/file, or a workspace version."""
    if isinstance(src, Dataset):
        return src
    if workspace is not None:
        from ...versioning import Workspace
        with Workspace.open(workspace) as ws:
            return ws.load(str(src))
    from ...api import load
    return load(src)


def pick_splits(ds: Dataset, where: str) -> tuple[np.ndarray, np.ndarray, str]:
    """Rows of the train split and of the validation split (val, else test)."""
    split = np.asarray(ds.images.split)
    train = np.flatnonzero(split == "train")
    names = sorted(set(split.tolist()))
    if not len(train):
        raise Error(f"{where}: no 'train' split (splits: {', '.join(map(repr, names))}); "
                    "run `visionflow split` first")
    for name in VAL_SPLITS:
        rows = np.flatnonzero(split == name)
        if len(rows):
            return train, rows, name
    raise Error(f"{where}: no 'val' or 'test' split to evaluate on (splits: "
                f"{', '.join(map(repr, names))}); run `visionflow split` first")


def targets_of(ds: Dataset, rows: np.ndarray, where: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per image: boxes (n, 4) xyxy normalised to 0..1 of the image, class indices (n,)."""
    ann = ds.annotations
    cls = ds.class_index(ann.category_id)
    ok = np.isfinite(ann.xyxy).all(1) & (cls >= 0)
    by_image: dict[int, list[int]] = {}
    for i in np.flatnonzero(ok):
        by_image.setdefault(int(ann.image_index[i]), []).append(i)
    out = []
    w = np.asarray(ds.images.width, np.float64)
    h = np.asarray(ds.images.height, np.float64)
    for r in rows:
        idx = np.asarray(by_image.get(int(r), []), np.int64)
        if not (w[r] > 0 and h[r] > 0):
            raise Error(f"{where}: image {ds.images.file_name[r]} has no size")
        boxes = ann.xyxy[idx] / np.array([w[r], h[r], w[r], h[r]])
        out.append((np.clip(boxes, 0, 1).astype(np.float32), cls[idx].astype(np.int64)))
    return out


def load_image(ds: Dataset, row: int, size: int) -> np.ndarray:
    """(size, size, 3) uint8 RGB: the image stretched to the network's square input (what
    the exported model's sidecar declares, so boxes in 0..1 map straight back)."""
    from PIL import Image
    try:
        pixels = ds.image(int(row))
    except Error:
        raise
    except Exception as e:  # a broken file: name it
        raise Error(f"{ds.images.file_name[row]}: cannot read image ({e})") from None
    return np.asarray(Image.fromarray(pixels).resize((size, size), Image.BILINEAR))


def gaussian_radius(h: float, w: float, min_overlap: float = 0.7) -> float:
    """CenterNet's radius: how far a centre may move and still overlap the box by
    `min_overlap` (h, w in heatmap cells)."""
    b1, c1 = h + w, w * h * (1 - min_overlap) / (1 + min_overlap)
    r1 = (b1 + math.sqrt(b1 ** 2 - 4 * c1)) / 2
    b2, c2 = 2 * (h + w), (1 - min_overlap) * w * h
    r2 = (b2 + math.sqrt(b2 ** 2 - 16 * c2)) / 2
    a3, b3, c3 = 4 * min_overlap, -2 * min_overlap * (h + w), (min_overlap - 1) * w * h
    r3 = (b3 + math.sqrt(b3 ** 2 - 4 * a3 * c3)) / 2
    return min(r1, r2, r3)


def encode(targets, num_classes: int, grid: int, flips: np.ndarray | None = None):
    """Heatmaps (B, C, G, G) with a Gaussian per object centre, and at each centre cell the
    box size in cells and the centre's sub-cell offset: (B, 4, G, G) + a mask (B, 1, G, G)."""
    b = len(targets)
    heat = np.zeros((b, num_classes, grid, grid), np.float32)
    reg = np.zeros((b, 4, grid, grid), np.float32)
    mask = np.zeros((b, 1, grid, grid), np.float32)
    ys, xs = np.mgrid[0:grid, 0:grid].astype(np.float32)
    for i, (boxes, labels) in enumerate(targets):
        if flips is not None and flips[i] and len(boxes):
            boxes = boxes.copy()
            boxes[:, [0, 2]] = 1 - boxes[:, [2, 0]]
        # large boxes first, so a small box's centre cell keeps its own size
        order = np.argsort(-(boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]))
        for box, c in zip(boxes[order] * grid, labels[order]):
            bw, bh = box[2] - box[0], box[3] - box[1]
            if bw <= 0 or bh <= 0:
                continue
            cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
            ix, iy = min(int(cx), grid - 1), min(int(cy), grid - 1)
            sigma = (2 * max(0.0, int(gaussian_radius(bh, bw))) + 1) / 6
            g = np.exp(-((xs - ix) ** 2 + (ys - iy) ** 2) / (2 * sigma ** 2))
            np.maximum(heat[i, c], g, out=heat[i, c])
            heat[i, c, iy, ix] = 1.0
            reg[i, :, iy, ix] = (bw, bh, cx - ix, cy - iy)
            mask[i, 0, iy, ix] = 1.0
    return heat, reg, mask


def centernet_loss(heat_logits, size, heat, reg, mask):
    """Focal loss on the heatmap (CenterNet's alpha 2, beta 4) + L1 on size (x0.1) and
    offset at object centres, each normalised by the number of objects."""
    torch = _torch()
    p = torch.sigmoid(heat_logits).clamp(1e-4, 1 - 1e-4)
    pos = heat.eq(1).to(p.dtype)
    n = pos.sum().clamp(min=1)
    focal = -(pos * (1 - p) ** 2 * torch.log(p) +
              (1 - pos) * (1 - heat) ** 4 * p ** 2 * torch.log(1 - p)).sum() / n
    l1 = (torch.abs(size - reg) * mask)
    return focal + 0.1 * l1[:, :2].sum() / n + l1[:, 2:].sum() / n


class FeatureCache:
    """The frozen backbone's features per (image, flip), kept within a memory budget."""

    def __init__(self, model, ds: Dataset, rows: np.ndarray, size: int, budget_mb: int):
        self.model, self.ds, self.rows, self.size = model, ds, rows, size
        self.budget = budget_mb * 2 ** 20
        self.used = 0
        self.store: dict[tuple[int, bool], tuple] = {}

    def images(self, positions: np.ndarray, flips: np.ndarray):
        """The batch's pixels (B, 3, S, S) float 0..1, flipped where asked."""
        torch = _torch()
        imgs = []
        for p, f in zip(positions, flips):
            img = load_image(self.ds, self.rows[int(p)], self.size)
            imgs.append(img[:, ::-1] if f else img)
        x = torch.from_numpy(np.ascontiguousarray(np.stack(imgs))).permute(0, 3, 1, 2)
        return (x.float() / 255).contiguous(memory_format=torch.channels_last)

    def batch(self, positions: np.ndarray, flips: np.ndarray):
        torch = _torch()
        need = [(int(p), bool(f)) for p, f in zip(positions, flips)
                if (int(p), bool(f)) not in self.store]
        fresh = {}
        if need:
            x = self.images(np.array([p for p, _ in need]), np.array([f for _, f in need]))
            with torch.no_grad():
                f8, f16 = self.model.backbone.lower(x)
            for k, key in enumerate(need):
                fresh[key] = (f8[k].clone(), f16[k].clone())
                nbytes = (f8[k].numel() + f16[k].numel()) * 4
                if self.used + nbytes <= self.budget:
                    self.store[key] = fresh[key]
                    self.used += nbytes
        got = [self.store.get((int(p), bool(f))) or fresh[(int(p), bool(f))]
               for p, f in zip(positions, flips)]
        return (torch.stack([g[0] for g in got]).contiguous(memory_format=torch.channels_last),
                torch.stack([g[1] for g in got]).contiguous(memory_format=torch.channels_last))


def _config(ds: Dataset, student: str, input_size: int, batch: int, lr: float, seed: int,
            backbone: str | None, width: float) -> dict[str, Any]:
    return {"student": student, "classes": list(ds.classes), "input_size": input_size,
            "batch": batch, "lr": lr, "seed": seed, "backbone": backbone, "width": width}


def _save_checkpoint(path: Path, state: dict) -> None:
    torch = _torch()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        torch.save(state, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _lr_at(base: float, step: int, total: int, warmup: int) -> float:
    """Linear warm-up, then cosine decay to 5% of base: a function of the step only, so a
    resumed run follows the same schedule."""
    if step < warmup:
        return base * (step + 1) / warmup
    t = (step - warmup) / max(1, total - warmup)
    return base * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, t))))


def train(ds: Dataset, out: Path, *, student: str = "mobilenetv2-detector", epochs: int = 30,
          input_size: int = 224, batch: int = 16, lr: float = 1e-2, resume: bool = False,
          seed: int = 0, backbone: str | None = "mobilenetv2", width: float = 1.0,
          finetune: int = 0, cache_mb: int = CACHE_MB, where: str = "SRC",
          progress: Callable | None = None,
          on_epoch: Callable[[EpochStats], None] | None = None):
    """Train (or resume training of) the student on ds's train split; checkpoint each epoch
    in out/checkpoint.pt. Returns (model in eval mode, history, epochs run now)."""
    torch = _torch()
    if student not in STUDENTS:
        raise Error(f"unknown student {student!r}; choose one of: {', '.join(STUDENTS)}")
    if input_size % 32 or input_size < 64:
        raise Error(f"--input-size {input_size}: must be a multiple of 32, at least 64")
    if epochs < 1 or batch < 1 or not lr > 0:
        raise Error("--epochs and --batch must be at least 1 and --lr positive")
    if not ds.classes:
        raise Error(f"{where}: has no classes to learn")
    train_rows, _, _ = pick_splits(ds, where)
    targets = targets_of(ds, train_rows, where)
    if not sum(len(t[1]) for t in targets):
        raise Error(f"{where}: the train split has no boxes to learn from")
    config = _config(ds, student, input_size, batch, lr, seed, backbone, width) | \
        {"finetune": finetune}
    torch.manual_seed(seed)
    model = build_student(len(ds.classes), backbone=backbone, width=width)
    model = model.to(memory_format=torch.channels_last)
    # pretrained: the lower part stays as it is (its features are cached), the top blocks
    # learn slowly; from scratch (tests, experiments): everything learns at the same rate
    frozen = backbone is not None
    for p in model.backbone.parameters():
        p.requires_grad_(not frozen)
    if not 0 <= finetune <= 4:
        raise Error(f"finetune {finetune}: the top 0 to 4 backbone blocks can be fine-tuned")
    top = model.backbone.blocks[len(model.backbone.blocks) - finetune:] if finetune else []
    upper = [p for b in top for p in b.parameters()] if frozen else []
    for p in upper:
        p.requires_grad_(True)
    head = [p for n, p in model.named_parameters()
            if not n.startswith("backbone.") or not frozen]
    slow = 0.1 if frozen else 1.0
    opt = torch.optim.AdamW([{"params": head, "lr": lr}, {"params": upper, "lr": lr * slow}],
                            weight_decay=1e-4)
    history: list[dict] = []
    start = 0
    ckpt = out / CHECKPOINT
    if resume:
        if not ckpt.is_file():
            raise Error(f"{out}: no {CHECKPOINT} to resume from")
        try:
            state = torch.load(ckpt, map_location="cpu", weights_only=False)
        except Exception as e:
            raise Error(f"{ckpt}: cannot read the checkpoint ({e})") from None
        if {k: state["config"].get(k) for k in config} != config:
            changed = [k for k in config if state["config"].get(k) != config[k]]
            raise Error(f"{ckpt}: was trained with other settings ({', '.join(changed)}); "
                        "resume with the same ones or start a new OUT")
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        start, history = state["epoch"], state["history"]
    grid = input_size // STRIDE
    n = len(train_rows)
    steps_per_epoch = math.ceil(n / batch)
    total = steps_per_epoch * epochs
    cache = FeatureCache(model, ds, train_rows, input_size, cache_mb)
    model.train()
    if frozen:
        model.backbone.eval()                   # keep the pretrained BatchNorm statistics
    for epoch in range(start, epochs):
        rng = np.random.default_rng([seed, epoch])
        order = rng.permutation(n)
        flips = rng.random(n) < 0.5
        losses, t0 = [], time.perf_counter()
        bar = progress(f"epoch {epoch + 1}/{epochs}", steps_per_epoch) if progress \
            else nullcontext(lambda k=1: None)
        with bar as advance:
            for s in range(steps_per_epoch):
                pos = order[s * batch:(s + 1) * batch]
                if frozen:
                    f8, f16 = cache.batch(pos, flips[pos])
                else:
                    f8, f16 = model.backbone.lower(cache.images(pos, flips[pos]))
                heat, reg, mask = (torch.from_numpy(a) for a in
                                   encode([targets[p] for p in pos], len(ds.classes), grid,
                                          flips[pos]))
                step = epoch * steps_per_epoch + s
                for g, base in zip(opt.param_groups, (lr, lr * slow)):
                    g["lr"] = _lr_at(base, step, total, min(50, total // 10 + 1))
                logits, size = model.head(f8, f16)
                loss = centernet_loss(logits, size, heat, reg, mask)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                losses.append(float(loss.detach()))
                advance(1)
        stats = EpochStats(epoch + 1, epochs, float(np.mean(losses)),
                           (time.perf_counter() - t0) / steps_per_epoch, steps_per_epoch)
        history.append(asdict(stats))
        _save_checkpoint(ckpt, {"epoch": epoch + 1, "model": model.state_dict(),
                                "optimizer": opt.state_dict(), "config": config,
                                "history": history})
        if on_epoch is not None:
            on_epoch(stats)
    model.eval()
    return model, history, epochs - start
