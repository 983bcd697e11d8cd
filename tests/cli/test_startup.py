"""Every CLI run pays for what `import visionflow` and the command's formats import: the heavy
parts (versioning, checks, transforms, the other 26 formats) must load only when used."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ["visionflow.versioning", "visionflow.checks.run", "visionflow.checks.fixes",
         "visionflow.transforms", "visionflow.formats.voc", "visionflow.formats.tfrecord",
         "lxml.etree", "sqlite3", "albumentations"]
# The bridges' libraries: optional, and seconds to import (TensorFlow), never on `import`.
BRIDGE_LIBS = ["pandas", "pyarrow", "supervision", "datasets", "tensorflow", "torch",
               "visionflow.bridges.arrow", "visionflow.bridges.supervision",
               "visionflow.bridges.hf", "visionflow.bridges.tf"]


def _loaded(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys, json\n"
                          "print(json.dumps(sorted(sys.modules)))"],
                         capture_output=True, text=True, check=True).stdout
    return set(json.loads(out.splitlines()[-1]))


def test_cli_and_a_named_format_load_nothing_else():
    loaded = _loaded("import visionflow.cli.main\n"
                     "from visionflow.formats import registry\n"
                     "registry.get('coco'); registry.get('yolo')")
    assert {"visionflow.formats.coco", "visionflow.formats.yolo"} <= loaded
    assert not loaded & set(HEAVY)
    assert not loaded & set(BRIDGE_LIBS)


def test_the_dataset_api_and_bridge_names_import_no_bridge_library():
    loaded = _loaded("import visionflow as vf\n"
                     "ds = vf.Dataset(vf.Images.build(['a.jpg'], [4], [3]), "
                     "vf.Annotations.build([0], [1], [[0, 0, 1, 1]]), "
                     "vf.Categories.from_names(['x']))\n"
                     "len(ds); list(ds); ds[0].class_names; ds.filter(classes='x')\n"
                     "vf.to_hf, vf.from_hf, vf.to_supervision, vf.to_tf_dataset, vf.from_arrow")
    assert "visionflow.bridges.hf" in loaded and "visionflow.bridges.tf" in loaded
    assert not loaded & {"pandas", "pyarrow", "supervision", "datasets", "tensorflow", "torch"}


def test_lazy_names_resolve_to_the_real_objects():
    import visionflow as vf
    from visionflow.checks import fix
    from visionflow.checks.fixes import fix as real_fix
    from visionflow.commands import fix as command_fix
    from visionflow.versioning import Workspace

    assert fix is real_fix and callable(vf.fix) and vf.fix is command_fix
    assert vf.Workspace is Workspace
    assert vf.transforms.Recipe is not None
    assert set(vf.__all__) <= set(dir(vf))
    for name in vf.__all__:
        assert getattr(vf, name) is not None
