"""MobileNetV2 in PyTorch, with the pretrained weights that ship inside the npm package
`nsfwjs` (MIT): a Keras MobileNetV2 (alpha 1.0, 224 px) saved as a TF.js layers model whose
weights are uint8-quantized and base64-encoded in `dist/models/mobilenet_v2/*.min.js`.

The network is written layer for layer like `keras.applications.MobileNetV2` (asymmetric
zero padding before stride-2 convolutions, ReLU6, BatchNorm epsilon 1e-3), so the Keras
weights map onto it by name and the features equal Keras's on the same input (tested against
tf.keras with the same weights). nsfwjs feeds RGB scaled to 0..1, so the backbone does too.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ...core.errors import Error

# (expansion, out channels, repeats, first stride): keras.applications.MobileNetV2
SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
            (6, 160, 3, 2), (6, 320, 1, 1))
# blocks whose outputs feed the detector head: strides 8, 16 and 32
TAPS = (5, 12, 16)
BN_EPS = 1e-3

_WEIGHT = re.compile(
    r'\{name:"(?P<name>[^"]+)",shape:\[(?P<shape>[0-9,]*)\],dtype:"(?P<dtype>\w+)"'
    r'(?:,quantization:\{(?P<q>[^}]*)\})?\}')
_NUMBER = r'(-?(?:\d+\.?\d*|\.\d+)(?:e-?\d+)?)'


def make_divisible(v: float, divisor: int = 8) -> int:
    """Keras's channel rounding for width multipliers."""
    new = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new + divisor if new < 0.9 * v else new


def _torch():
    try:
        import torch
    except ImportError:
        raise Error("distill needs PyTorch: pip install 'visionflow[distill]'") from None
    return torch


def build_mobilenetv2(width: float = 1.0):
    """A torch MobileNetV2 feature extractor returning the stride-8, 16 and 32 maps."""
    torch = _torch()
    nn = torch.nn
    F = torch.nn.functional

    class ConvBN(nn.Module):
        def __init__(self, cin, cout, k, stride, groups=1, relu=True):
            super().__init__()
            self.stride = stride
            self.conv = nn.Conv2d(cin, cout, k, stride, padding=0 if stride == 2 or k == 1
                                  else k // 2, groups=groups, bias=False)
            self.bn = nn.BatchNorm2d(cout, eps=BN_EPS)
            self.relu = relu

        def forward(self, x):
            if self.stride == 2:           # Keras correct_pad for even sizes: bottom/right
                x = F.pad(x, (0, 1, 0, 1))
            x = self.bn(self.conv(x))
            return F.relu6(x) if self.relu else x

    class Block(nn.Module):
        def __init__(self, cin, cout, expansion, stride):
            super().__init__()
            hidden = cin * expansion
            self.expand = ConvBN(cin, hidden, 1, 1) if expansion != 1 else None
            self.depthwise = ConvBN(hidden, hidden, 3, stride, groups=hidden)
            self.project = ConvBN(hidden, cout, 1, 1, relu=False)
            self.residual = stride == 1 and cin == cout

        def forward(self, x):
            y = self.expand(x) if self.expand is not None else x
            y = self.project(self.depthwise(y))
            return x + y if self.residual else y

    class MobileNetV2(nn.Module):
        def __init__(self):
            super().__init__()
            first = make_divisible(32 * width)
            self.conv1 = ConvBN(3, first, 3, 2)
            blocks, cin = [], first
            for t, c, n, s in SETTINGS:
                cout = make_divisible(c * width)
                for i in range(n):
                    blocks.append(Block(cin, cout, t, s if i == 0 else 1))
                    cin = cout
            self.blocks = nn.ModuleList(blocks)
            self.channels = tuple(blocks[i].project.conv.out_channels for i in TAPS)
            self.width = width

        def forward(self, x):
            f8, f16 = self.lower(x)
            return [f8, f16, self.upper(f16)]

        def lower(self, x):
            """Stride-8 and stride-16 maps: the part distill keeps frozen (and caches)."""
            x = self.conv1(x)
            for block in self.blocks[:TAPS[0] + 1]:
                x = block(x)
            f8 = x
            for block in self.blocks[TAPS[0] + 1:TAPS[1] + 1]:
                x = block(x)
            return f8, x

        def upper(self, f16):
            """Stride-32 map from the stride-16 one: the part distill fine-tunes."""
            x = f16
            for block in self.blocks[TAPS[1] + 1:]:
                x = block(x)
            return x

    return MobileNetV2()


def keras_names(model) -> Iterator[tuple[str, object]]:
    """(Keras layer name, ConvBN) for every convolution of `model`, as Keras names them."""
    yield "Conv1", model.conv1
    for i, block in enumerate(model.blocks):
        prefix = "expanded_conv" if i == 0 else f"block_{i}"
        if block.expand is not None:
            yield f"{prefix}_expand", block.expand
        yield f"{prefix}_depthwise", block.depthwise
        yield f"{prefix}_project", block.project


def _bn_name(conv_name: str) -> str:
    return "bn_Conv1" if conv_name == "Conv1" else f"{conv_name}_BN"


def read_tfjs_weights(folder: str | Path) -> dict[str, np.ndarray]:
    """Keras weight name -> float32 array from `folder`: weights.npz (the pulled registry
    model: dequantized Keras weights by name), or a TF.js layers model: the nsfwjs bundle
    (model.min.js + group1-shard1of1.min.js, base64 inside JavaScript) or the plain layout
    (model.json + its binary shards). Quantized weights are dequantized."""
    folder = Path(folder)
    if (folder / "weights.npz").is_file():     # what `models pull mobilenetv2` writes
        try:
            with np.load(folder / "weights.npz", allow_pickle=False) as z:
                return {k: z[k].astype(np.float32) for k in z.files}
        except (OSError, ValueError) as e:
            raise Error(f"{folder / 'weights.npz'}: cannot read ({e}); pull it again") from None
    if (folder / "model.json").is_file():
        try:
            manifest = json.loads((folder / "model.json").read_text())["weightsManifest"]
        except (ValueError, KeyError) as e:
            raise Error(f"{folder / 'model.json'}: not a TF.js model ({e})") from None
        entries = [(w["name"], w["shape"], w["dtype"], w.get("quantization"))
                   for group in manifest for w in group["weights"]]
        data = b"".join((folder / p).read_bytes() for group in manifest for p in group["paths"])
    elif (folder / "model.min.js").is_file():
        text = (folder / "model.min.js").read_text()
        entries = []
        for m in _WEIGHT.finditer(text):
            q = {k: (s or float(n)) for k, s, n in
                 re.findall(r'(\w+):(?:"(\w+)"|' + _NUMBER + ')', m["q"] or "")} or None
            shape = [int(s) for s in m["shape"].split(",") if s]
            entries.append((m["name"], shape, m["dtype"], q))
        shards = sorted(folder.glob("group1-shard*.min.js"))
        if not entries or not shards:
            raise Error(f"{folder}: no TF.js weights found (expected model.min.js and "
                        "group1-shard*.min.js from nsfwjs)")
        data = b""
        for shard in shards:
            found = re.findall(r'"([A-Za-z0-9+/=]{64,})"', shard.read_text())
            if len(found) != 1:
                raise Error(f"{shard}: expected one base64 weights string, found {len(found)}")
            data += base64.b64decode(found[0])
    else:
        raise Error(f"{folder}: no TF.js model here (model.json or nsfwjs' model.min.js)")
    return _decode(entries, data, folder)


def _decode(entries, data: bytes, where: Path) -> dict[str, np.ndarray]:
    out, offset = {}, 0
    for name, shape, dtype, q in entries:
        n = int(np.prod(shape)) if shape else 1
        if q:
            qdtype = {"uint8": np.uint8, "uint16": np.uint16, "float16": np.float16}.get(
                q.get("dtype"))
            if qdtype is None:
                raise Error(f"{where}: weight {name}: unsupported quantization {q}")
        elif dtype != "float32":
            raise Error(f"{where}: weight {name}: unsupported dtype {dtype}")
        stored = np.dtype(qdtype if q else np.float32)
        if offset + n * stored.itemsize > len(data):
            raise Error(f"{where}: weights file too short for {name} (truncated download?)")
        raw = np.frombuffer(data, stored, n, offset)
        offset += n * stored.itemsize
        if not q:
            values = raw.copy()
        elif stored == np.float16:
            values = raw.astype(np.float32)
        else:
            values = raw.astype(np.float32) * np.float32(q["scale"]) + np.float32(q["min"])
        out[name] = values.reshape(shape)
    if offset != len(data):
        raise Error(f"{where}: weights file has {len(data) - offset} bytes the manifest does "
                    "not describe")
    return out


def load_keras_weights(model, weights: dict[str, np.ndarray]) -> None:
    """Copy Keras MobileNetV2 weights (name -> array) into `model` (width 1.0)."""
    torch = _torch()
    for name, layer in keras_names(model):
        kernel_key = f"{name}/depthwise_kernel" if name.endswith("_depthwise") else \
            f"{name}/kernel"
        if kernel_key not in weights:
            raise Error(f"MobileNetV2 weights: {kernel_key} missing (not a Keras MobileNetV2?)")
        k = weights[kernel_key]
        # Keras: conv (kh, kw, in, out), depthwise (kh, kw, channels, 1); torch: (out, in, kh, kw)
        k = k.transpose(2, 3, 0, 1) if name.endswith("_depthwise") else k.transpose(3, 2, 0, 1)
        if tuple(k.shape) != tuple(layer.conv.weight.shape):
            raise Error(f"MobileNetV2 weights: {kernel_key} has shape {k.shape}, the network "
                        f"expects {tuple(layer.conv.weight.shape)}")
        bn = _bn_name(name)
        with torch.no_grad():
            layer.conv.weight.copy_(torch.from_numpy(np.ascontiguousarray(k)))
            for attr, key in (("weight", "gamma"), ("bias", "beta"),
                              ("running_mean", "moving_mean"),
                              ("running_var", "moving_variance")):
                getattr(layer.bn, attr).copy_(torch.from_numpy(weights[f"{bn}/{key}"]))


def find_backbone_files(source: str | Path) -> Path:
    """The folder holding MobileNetV2's TF.js files: `source` itself when it is a folder,
    else the registry model of that name pulled into models_dir() (its `tfjs/` folder or the
    model folder itself)."""
    path = Path(source)
    if path.is_dir():
        return path
    from ..base import models_dir
    root = models_dir() / str(source)
    for candidate in (root, root / "tfjs"):
        if any((candidate / f).is_file() for f in ("weights.npz", "model.min.js",
                                                   "model.json")):
            return candidate
    raise Error(f"backbone {source!r} is not pulled: run `visionflow models pull {source}` "
                "(or pass --backbone FOLDER holding nsfwjs' dist/models/mobilenet_v2 files)")


def pretrained_mobilenetv2(source: str | Path = "mobilenetv2"):
    """MobileNetV2 with nsfwjs's pretrained weights, from a registry name or a folder."""
    model = build_mobilenetv2(1.0)
    load_keras_weights(model, read_tfjs_weights(find_backbone_files(source)))
    return model
