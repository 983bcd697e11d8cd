"""Dataset -> `tf.data.Dataset` (TensorFlow is imported on the first call only: it takes
seconds to import). Besides the TFRecord writer, for training straight from a dataset.

Each element is (image, target): image (H, W, 3) uint8 RGB, upright (EXIF applied); target
{"boxes": (n, 4) float32 normalized [ymin, xmin, ymax, xmax] as the TF Object Detection API
wants, "boxes_xyxy": (n, 4) float32 absolute pixels, "classes": (n,) int64 class index
(position in ds.classes), "image_id": int64 scalar}. Image-level labels (no box) are left out.
Pixels are decoded when the pipeline asks for them, one image at a time.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..core.dataset import Dataset
from ..core.errors import Error


def to_tf_dataset(ds: Dataset, split: str | None = None) -> Any:
    """`ds` (or one split of it) as a `tf.data.Dataset` of (image, target)."""
    try:
        import tensorflow as tf
    except ImportError:
        raise Error("to_tf_dataset needs TensorFlow: pip install tensorflow-cpu") from None
    if split is not None:
        if split not in ds.splits:
            raise Error(f"no split {split!r}; the dataset has {ds.splits}")
        ds = ds.split(split)
    ds = ds.replace(annotations=ds.annotations[~ds.annotations.is_label])
    cls = ds.class_index(ds.annotations.category_id)
    if (cls < 0).any():
        j = int(np.flatnonzero(cls < 0)[0])
        raise Error(f"annotation {ds.annotations.id[j]} has category id "
                    f"{ds.annotations.category_id[j]}, which the dataset does not declare")
    missing = [str(f) for f, p in zip(ds.images.file_name, ds.images.path) if p is None]
    if missing:
        raise Error(f"{len(missing)} images have no file (first: {missing[0]!r}); "
                    "to_tf_dataset decodes pixels")

    def generate():
        for view in ds:
            pixels = ds.image(view.row)
            if pixels.shape[:2] != (view.height, view.width):
                raise Error(f"image {view.file_name!r} is {pixels.shape[1]}x{pixels.shape[0]}"
                            f", the dataset says {view.width}x{view.height}")
            xyxy = view.xyxy.astype(np.float64)
            norm = xyxy[:, [1, 0, 3, 2]] / np.array([view.height, view.width] * 2, np.float64)
            yield pixels, {"boxes": norm.astype(np.float32),
                           "boxes_xyxy": xyxy.astype(np.float32),
                           "classes": cls[view.annotation_rows].astype(np.int64),
                           "image_id": np.int64(view.id)}

    signature = (tf.TensorSpec((None, None, 3), tf.uint8),
                 {"boxes": tf.TensorSpec((None, 4), tf.float32),
                  "boxes_xyxy": tf.TensorSpec((None, 4), tf.float32),
                  "classes": tf.TensorSpec((None,), tf.int64),
                  "image_id": tf.TensorSpec((), tf.int64)})
    return tf.data.Dataset.from_generator(generate, output_signature=signature)
