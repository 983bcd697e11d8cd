"""vf.to_tf_dataset with real TensorFlow (CPU): one test that iterates a real dataset (TF takes
seconds to import, so the checks share it)."""

from __future__ import annotations

import numpy as np
import pytest

import visionflow as vf
from tests.conftest import shared_path

pytestmark = pytest.mark.interop
tf = pytest.importorskip("tensorflow")


@pytest.mark.shared
def test_tf_dataset_yields_images_and_boxes_of_a_real_dataset():
    ds = vf.load(shared_path("ultralytics-hub-datasets", "coco8"))
    val = ds.split("val")
    out = vf.to_tf_dataset(ds, split="val")
    spec = out.element_spec
    assert spec[0].dtype == tf.uint8 and spec[0].shape.as_list() == [None, None, 3]
    assert spec[1]["boxes"].shape.as_list() == [None, 4]
    seen = 0
    for (image, target), view in zip(out, val):
        assert image.shape == (view.height, view.width, 3)
        assert np.array_equal(image.numpy(), val.image(view.row))
        xyxy = view.xyxy
        assert np.array_equal(target["boxes_xyxy"].numpy(), xyxy.astype(np.float32))
        norm = np.stack([xyxy[:, 1] / view.height, xyxy[:, 0] / view.width,
                         xyxy[:, 3] / view.height, xyxy[:, 2] / view.width], axis=1)
        assert np.array_equal(target["boxes"].numpy(), norm.astype(np.float32))
        assert target["classes"].numpy().tolist() == view.class_index.tolist()
        assert int(target["image_id"]) == view.id
        seen += 1
    assert seen == len(val) == 4
    # batching with padding, as a training loop would
    batch = next(iter(out.padded_batch(2)))
    assert batch[1]["boxes"].shape[0] == 2
    with pytest.raises(vf.Error, match="no split 'test'"):
        vf.to_tf_dataset(ds, split="test")
    bare = ds.replace(images=ds.images.replace(path=np.full(len(ds), None, object)))
    with pytest.raises(vf.Error, match="8 images have no file"):
        vf.to_tf_dataset(bare)
