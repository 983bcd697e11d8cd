"""Dataset -> `torch.utils.data.Dataset` in torchvision's detection format
(`pip install 'visionflow[torch]'`; torch only, torchvision is not needed).

`vf.torch.DetectionDataset(ds, split="train")[i]` is `(image, target)`:

- image: float32 tensor (3, H, W) in [0, 1] (what torchvision's detection models take), or
  uint8 (3, H, W) with `image_dtype="uint8"`; RGB, upright (EXIF applied), grayscale
  repeated into three channels.
- target: `boxes` float32 (N, 4) absolute xyxy pixels; `labels` int64 (N,) class index + 1
  (0 is torchvision's background; `class_names[label]` names it); `image_id` int64 (the
  dataset's image id); `area` float32 (N,) box area; `iscrowd` int64 (N,); `masks` uint8
  (N, H, W) with `masks=True` (polygons and RLE rasterized at the image size as the mask
  formats do; an object with neither gets an empty mask); `keypoints` float32 (N, K, 3)
  (x, y, COCO visibility; 0 where absent) when the dataset has keypoints.

Image-level labels (no box) are not objects and are left out. Decoding happens in
`__getitem__`: the object holds only numpy columns and file paths, so it pickles to
DataLoader workers (fork or spawn). A visionflow recipe (`recipe=`) runs on the fly with the
ops of `visionflow transform`: preprocessing as `transform` does it, and the augmentation of
epoch e (`set_epoch(e)`) is exactly `transform --seed S`'s copy e of that image (the random
generator is a function of seed, epoch and image only, never of worker or order).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..core.dataset import Dataset
from ..core.errors import Error, ValidationError

try:
    import torch
    from torch.utils.data import Dataset as _TorchDataset
except ImportError:
    raise Error("the PyTorch bridge needs torch: pip install 'visionflow[torch]'") from None

IMAGE_DTYPES = ("float32", "uint8")
BACKGROUND = "__background__"


def collate_fn(batch: list[tuple[Any, dict]]) -> tuple[tuple, ...]:
    """(images, targets) as tuples of per-image items, like torchvision's references: images of
    different sizes and targets of different lengths cannot be stacked."""
    return tuple(zip(*batch))


class DetectionDataset(_TorchDataset):
    """One split of a visionflow Dataset as torchvision detection samples (module docstring).

    split: a split name; "train" on a dataset without splits takes every image (as
    `transform` treats it as training data); None takes every image.
    transform: called as `transform(image, target)` after the recipe, returns both (the
    torchvision v2 convention). recipe: a Recipe, mapping or YAML/JSON path; seed its seed.
    """

    def __init__(self, ds: Dataset, split: str | None = "train",
                 transform: Callable[[Any, dict], tuple[Any, dict]] | None = None,
                 recipe: Any = None, seed: int = 0, *, masks: bool = False,
                 image_dtype: str = "float32"):
        if image_dtype not in IMAGE_DTYPES:
            raise Error(f"image_dtype must be one of {', '.join(IMAGE_DTYPES)}, "
                        f"got {image_dtype!r}")
        self.transform, self.seed, self.masks = transform, int(seed), bool(masks)
        self.image_dtype = image_dtype
        self.epoch = 0
        self._plan = None
        categories = ds.categories
        if recipe is not None:
            from ..transforms.engine import make_plan
            from ..transforms.ops import FilterEmpty, FilterImages, IsolateObjects, Tile
            from ..transforms.recipe import Recipe
            recipe = recipe if isinstance(recipe, Recipe) else Recipe.load(
                recipe if isinstance(recipe, dict) else Path(recipe))
            for op in recipe.ops():
                if isinstance(op, (Tile, IsolateObjects, FilterEmpty, FilterImages)):
                    raise Error(f"{recipe.source}: {op.name} turns one image into another number "
                                "of images, which an on-the-fly dataset (one sample per image) "
                                "cannot do: run `visionflow transform` with it first")
            if recipe.split is not None:  # re-split first, as `visionflow transform` does
                from ..transforms.split import split as split_fn
                ds = split_fn(ds, recipe.split.ratios, seed=self.seed,
                              stratify=recipe.split.stratify)
            self._plan = make_plan(ds, recipe, self.seed)
            categories = self._plan.categories
        self.dataset = ds
        self.rows = _rows_of(ds, split)
        self.class_names = [BACKGROUND, *categories.names]
        """class_names[label]: the name of a target label (0 is the background)."""
        self._cat_ids = np.asarray(categories.ids, np.int64)
        if masks and not (ds.annotations.has_polygon() | ds.annotations.has_rle()).any():
            raise Error("masks=True, but the dataset has no polygons or RLE masks to "
                        "rasterize")
        order = np.argsort(ds.annotations.image_index, kind="stable")
        self._ann_order = order
        self._ann_bounds = np.searchsorted(ds.annotations.image_index[order],
                                           np.arange(len(ds.images) + 1))

    @property
    def num_classes(self) -> int:
        """Classes including the background: torchvision models' `num_classes`."""
        return len(self.class_names)

    def set_epoch(self, epoch: int) -> None:
        """Pick the augmentation of this epoch: call it before iterating, like
        DistributedSampler.set_epoch. A DataLoader copies the dataset into its workers when
        an epoch starts, so they see it; with persistent_workers=True they keep the epoch they
        started with."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> tuple[Any, dict]:
        n = len(self.rows)
        if not -n <= index < n:
            raise IndexError(f"index {index} is out of range for {n} images")
        row = int(self.rows[index])
        ds = self.dataset
        if self._plan is None:
            ann = ds.annotations[self._ann_order[self._ann_bounds[row]:self._ann_bounds[row + 1]]]
            pixels = ds.image(row)
            w, h = int(ds.images.width[row]), int(ds.images.height[row])
        else:
            pixels, ann, w, h = self._recipe_sample(row)
        image, target = self._to_torch(row, pixels, ann, w, h)
        if self.transform is not None:
            image, target = self.transform(image, target)
        return image, target

    def _recipe_sample(self, row: int):
        """The image and annotations after the recipe, with transform's generators."""
        from ..transforms.engine import Context, _run_ops, _sample, _task, image_rng
        plan, ds = self._plan, self.dataset
        ctx = Context(plan)
        sample = _sample(_task(ds, row, self._ann_order, self._ann_bounds))
        samples = _run_ops(plan.preprocess, [sample],
                           image_rng(plan.seed, sample.split, sample.file_name, 0), ctx)
        aug = plan.recipe.augment
        if aug is not None and sample.split in plan.augment_splits and len(samples) == 1:
            rng = image_rng(plan.seed, sample.split, sample.file_name, 1, self.epoch + 1)
            samples = _run_ops(plan.augment, [samples[0].copy()], rng, ctx)
        if len(samples) != 1:
            raise ValidationError(sample.file_name, f"the recipe made {len(samples)} images of "
                                  "it; an on-the-fly dataset yields exactly one per image")
        s = samples[0]
        return s.image, s.ann, s.width, s.height

    def _to_torch(self, row: int, pixels: np.ndarray, ann, w: int, h: int) -> tuple[Any, dict]:
        from ..core.geometry import box_area
        from ..formats.masks import object_mask
        ds = self.dataset
        arr = np.asarray(pixels)
        if arr.ndim == 2:
            arr = np.repeat(arr[:, :, None], 3, axis=2)
        image = torch.from_numpy(np.array(arr.transpose(2, 0, 1), order="C"))  # own, writable
        if self.image_dtype == "float32":
            image = image.to(torch.float32).div_(255.0)
        ann = ann[~ann.is_label]
        cls = _class_index(self._cat_ids, ann.category_id)
        if (cls < 0).any():
            j = int(np.flatnonzero(cls < 0)[0])
            raise ValidationError(f"image {ds.images.file_name[row]!r}",
                                  f"annotation {ann.id[j]} has category id "
                                  f"{ann.category_id[j]}, which the dataset does not declare")
        n = len(ann)
        target = {
            "boxes": torch.from_numpy(ann.xyxy.astype(np.float32).reshape(n, 4)),
            "labels": torch.from_numpy((cls + 1).astype(np.int64)),
            "image_id": torch.tensor(int(ds.images.id[row]), dtype=torch.int64),
            "area": torch.from_numpy(box_area(ann.xyxy).astype(np.float32).reshape(n)),
            "iscrowd": torch.from_numpy(np.zeros(n, np.int64) if ann.iscrowd is None
                                        else ann.iscrowd.astype(np.int64)),
        }
        if self.masks:
            has_rle, has_poly = ann.has_rle(), ann.has_polygon()
            out = np.zeros((n, h, w), np.uint8)
            name = str(ds.images.file_name[row])
            for k in range(n):
                m = object_mask(ann, k, w, h, has_rle[k], has_poly[k], name)
                if m is not None:
                    out[k] = m
            target["masks"] = torch.from_numpy(out)
        if ds.annotations.keypoints is not None:  # (N, K, 3) even for N = 0
            kp = np.zeros((n, ds.annotations.keypoints.shape[1], 3), np.float32) \
                if ann.keypoints is None else \
                np.nan_to_num(ann.keypoints, nan=0.0).astype(np.float32)
            target["keypoints"] = torch.from_numpy(kp)
        return image, target


def _class_index(cat_ids: np.ndarray, category_id: np.ndarray) -> np.ndarray:
    """Position of each id in cat_ids, -1 where it is not declared."""
    if not len(cat_ids):
        return np.full(len(category_id), -1, np.int64)
    order = np.argsort(cat_ids)
    pos = np.clip(np.searchsorted(cat_ids[order], category_id), 0, len(cat_ids) - 1)
    return np.where(cat_ids[order][pos] == category_id, order[pos], -1)


def _rows_of(ds: Dataset, split: str | None) -> np.ndarray:
    from ..core.images import UNSPLIT
    if split is None:
        return np.arange(len(ds.images))
    rows = np.flatnonzero(ds.images.split == split)
    if not len(rows):
        if split == "train" and len(ds.images) and (ds.images.split == UNSPLIT).all():
            return np.arange(len(ds.images))
        raise Error(f"no split {split!r}; the dataset has {ds.splits} (split=None takes "
                    "every image)")
    return rows
