"""Convert a TensorFlow.js model (as shipped in an npm package) to ONNX.

This file runs as a script inside the *converter environment* (TensorFlow + tf2onnx, pinned in
converter-requirements.txt), never inside visionflow's own environment: those pins conflict
with the rest of visionflow, so `models pull` starts it as a subprocess. It imports nothing
from visionflow; the parts that need no TensorFlow (reading minified JS bundles, patching graph
topologies) are plain functions that visionflow's tests exercise directly.

    python convert_tfjs.py graph MODEL.json OUT.onnx [--opset 13]
    python convert_tfjs.py layers-js MODEL.min.js OUT.onnx --outputs features=flatten_1,...

Two kinds of TF.js model are supported:
- `graph`: a graph model (model.json + .bin shards). tf2onnx's own TF.js reader does the work
  after two repairs: fused ops (`_FusedConv2D`, `FusedDepthwiseConv2dNative`) lack the `TArgs`
  attribute TensorFlow's op registry requires, and attributes left at their default (e.g.
  TopKV2's `index_type`) are omitted by the TF.js converter, which tf2onnx's reader needs.
- `layers-js`: a Keras layers model whose topology and base64 weight shards are bundled as
  minified JavaScript modules (nsfwjs). It is rebuilt in tf.keras, the uint8-quantized weights
  are dequantized (q * scale + min) and loaded by name, and the named layers become the ONNX
  outputs. The dequantized weights are also written beside the ONNX file (`weights.npz`) so
  a backbone can be reused by frameworks that do not read ONNX.

The last line printed on stdout is a JSON summary (inputs and outputs with shapes and dtypes).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

FUSED_OPS = ("_FusedConv2D", "FusedDepthwiseConv2dNative", "_FusedMatMul",
             "_FusedDepthwiseConv2dNative")

_JS_ESCAPES = {"\\'": "'", "\\0": "\\u0000", "\\v": "\\u000b"}
_NUMBER = re.compile(r"-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


class ConvertError(Exception):
    """A model file that cannot be converted; the message names the file and the problem."""


def js_literal_to_json(text: str) -> str:
    """Turn a minified JavaScript object literal (unquoted keys, `!0`/`!1`, `.5`) into JSON.

    Minifiers emit literals that JSON parsers reject; a small tokenizer that respects string
    literals is safer than regular expressions over the whole text (layer names may contain
    anything)."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in "\"'":
            j = i + 1
            buf: list[str] = []
            while j < n and text[j] != c:
                if text[j] == "\\":
                    esc = text[j:j + 2]
                    if esc == "\\x":  # JS-only escapes, as JSON spells them
                        buf.append("\\u00" + text[j + 2:j + 4])
                        j += 4
                        continue
                    buf.append(_JS_ESCAPES.get(esc, esc))
                    j += 2
                else:
                    ch = text[j]
                    buf.append('\\"' if ch == '"' else f"\\u{ord(ch):04x}" if ch < " " else ch)
                    j += 1
            if j >= n:
                raise ConvertError(f"unterminated string literal at offset {i}")
            out.append('"' + "".join(buf) + '"')
            i = j + 1
            continue
        if c == "!" and text[i + 1:i + 2] in ("0", "1"):
            out.append("true" if text[i + 1] == "0" else "false")
            i += 2
            continue
        if c.isidentifier() or c == "$":  # Unicode ID_Start / ID_Continue, as in JS
            k = i + 1
            while k < n and (("a" + text[k]).isidentifier() or text[k] == "$"):
                k += 1
            word = text[i:k]
            if text[k:k + 1] == ":":
                out.append(json.dumps(word))
            elif word in ("true", "false", "null"):
                out.append(word)
            elif word in ("void", "undefined"):
                raise ConvertError(f"unsupported JavaScript value {word!r} at offset {i}")
            else:
                out.append(word)
            i = k
            continue
        if c in "-.0123456789":
            m = _NUMBER.match(text, i)
            if m:
                tok = m.group(0)
                sign = "-" if tok.startswith("-") else ""
                tok = tok.lstrip("-")
                if tok.startswith("."):
                    tok = "0" + tok
                mant, _, exp = tok.partition("e") if "e" in tok else tok.partition("E")
                if mant.endswith("."):
                    mant += "0"
                out.append(sign + mant + (("e" + exp) if exp else ""))
                i = m.end()
                continue
        out.append(c)
        i += 1
    return "".join(out)


def js_module_export(text: str, name: str = "bundle") -> str:
    """The source of the value a browserify UMD bundle's module 1 assigns to `exports`.

    nsfwjs ships `{1:[function(e,a,n){a.exports=VALUE},{}]},{},[1])(1)});`; VALUE is an
    object literal (the model) or a string literal (base64 weights)."""
    start = text.find("{1:[function(")
    if start < 0:
        raise ConvertError(f"{name}: not a browserify bundle (no module 1)")
    m = re.compile(r"\b\w+\.exports\s*=").search(text, start)
    if not m:
        raise ConvertError(f"{name}: module 1 assigns no exports")
    end = text.rfind("},{}]},{},[1])")
    if end < m.end():
        raise ConvertError(f"{name}: cannot find the end of module 1")
    return text[m.end():end].strip().rstrip(";")


def read_layers_bundle(model_js: Path) -> tuple[dict, bytes]:
    """(model JSON, concatenated weight bytes) of a layers model bundled as minified JS, with
    its weight shards (`<path>.min.js` beside it, each exporting a base64 string)."""
    try:
        literal = js_module_export(model_js.read_text(), model_js.name)
        model = json.loads(js_literal_to_json(literal))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ConvertError(f"{model_js}: the model literal is not valid: {e}") from None
    if "modelTopology" not in model or "weightsManifest" not in model:
        raise ConvertError(f"{model_js}: no modelTopology/weightsManifest in the model")
    data = bytearray()
    for group in model["weightsManifest"]:
        for p in group["paths"]:
            shard = model_js.parent / (p + ".min.js")
            if not shard.is_file():
                raise ConvertError(f"{model_js}: weight shard {shard.name} is missing")
            lit = js_module_export(shard.read_text(), shard.name)
            if not (lit.startswith('"') and lit.endswith('"')):
                raise ConvertError(f"{shard}: the shard does not export a base64 string")
            try:
                data += base64.b64decode(lit[1:-1], validate=True)
            except ValueError as e:
                raise ConvertError(f"{shard}: invalid base64 weights: {e}") from None
    return model, bytes(data)


def decode_weights(manifest: list[dict], data: bytes) -> dict:
    """name -> float32/int32 numpy array from a TF.js weights manifest and its bytes,
    dequantizing uint8/uint16 (q * scale + min) and float16 weights."""
    import numpy as np
    sizes = {"float32": 4, "int32": 4, "bool": 1, "uint8": 1, "uint16": 2, "float16": 2}
    out: dict = {}
    offset = 0
    for group in manifest:
        for w in group["weights"]:
            count = int(np.prod(w["shape"])) if w["shape"] else 1
            q = w.get("quantization")
            dtype = q["dtype"] if q else w["dtype"]
            if dtype not in sizes:
                raise ConvertError(f"weight {w['name']}: unsupported dtype {dtype}")
            nbytes = count * sizes[dtype]
            if offset + nbytes > len(data):
                raise ConvertError(f"weight {w['name']}: the weight data is truncated")
            raw = np.frombuffer(data, dtype, count, offset).reshape(w["shape"])
            offset += nbytes
            if q and dtype in ("uint8", "uint16"):
                val = raw.astype(np.float32) * np.float32(q["scale"]) + np.float32(q["min"])
            else:
                val = raw.astype(np.float32 if w["dtype"] == "float32" else w["dtype"])
            out[w["name"]] = val
    if offset != len(data):
        raise ConvertError(f"the weight data has {len(data) - offset} bytes the manifest does "
                           "not describe")
    return out


def repair_graph_topology(model: dict, op_defaults=None) -> int:
    """Add what tf2onnx's TF.js reader needs and the TF.js converter left out; returns how
    many attributes were added. `op_defaults(op) -> {attr: json value}` supplies registry
    defaults (TensorFlow's op registry in the converter environment)."""
    added = 0
    for node in model["modelTopology"]["node"]:
        attr = node.setdefault("attr", {})
        if node["op"] in FUSED_OPS and "TArgs" not in attr:
            n_args = int(attr.get("num_args", {}).get("i", max(len(node.get("input", [])) - 2, 0)))
            attr["TArgs"] = {"list": {"type": [attr.get("T", {}).get("type", "DT_FLOAT")] * n_args}}
            added += 1
        if op_defaults is not None:
            for name, value in op_defaults(node["op"]).items():
                if name not in attr:
                    attr[name] = value
                    added += 1
    return added


def _tf_op_defaults():
    from google.protobuf import json_format
    from tensorflow.python.framework import op_def_registry
    cache: dict = {}

    def defaults(op: str) -> dict:
        if op not in cache:
            od = op_def_registry.get(op)
            cache[op] = {} if od is None else {
                a.name: json_format.MessageToDict(a.default_value)
                for a in od.attr if a.HasField("default_value")}
        return cache[op]
    return defaults


def _summary(onnx_path: Path) -> dict:
    import onnx
    m = onnx.load(str(onnx_path), load_external_data=False)
    inits = {i.name for i in m.graph.initializer}

    def desc(v):
        t = v.type.tensor_type
        return {"name": v.name, "dtype": onnx.helper.tensor_dtype_to_np_dtype(t.elem_type).name,
                "shape": [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim]}
    return {"inputs": [desc(v) for v in m.graph.input if v.name not in inits],
            "outputs": [desc(v) for v in m.graph.output], "opset": m.opset_import[0].version}


def convert_graph(model_json: Path, output: Path, opset: int) -> dict:
    """A TF.js graph model -> ONNX through tf2onnx's TF.js reader (after the repairs)."""
    model = json.loads(model_json.read_text())
    if model.get("format") != "graph-model":
        raise ConvertError(f"{model_json}: not a TF.js graph model "
                           f"(format {model.get('format')!r})")
    repair_graph_topology(model, _tf_op_defaults())
    with tempfile.TemporaryDirectory(prefix="vf-tfjs-") as tmp:
        fixed = Path(tmp) / model_json.name
        fixed.write_text(json.dumps(model))
        for group in model["weightsManifest"]:
            for p in group["paths"]:
                src = model_json.parent / p
                if not src.is_file():
                    raise ConvertError(f"{model_json}: weight file {p} is missing")
                shutil.copyfile(src, Path(tmp) / p)
        cmd = [sys.executable, "-m", "tf2onnx.convert", "--tfjs", str(fixed),
               "--output", str(output), "--opset", str(opset)]
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        sys.stderr.write(r.stdout)
        if r.returncode != 0 or not output.is_file():
            raise ConvertError(f"{model_json}: tf2onnx failed (exit {r.returncode})")
    return _summary(output)


def _rename_outputs(onnx_path: Path, names: list[str]) -> None:
    import onnx
    m = onnx.load(str(onnx_path))
    for out, new in zip(m.graph.output, names):
        old = out.name
        for node in m.graph.node:
            node.output[:] = [new if o == old else o for o in node.output]
            node.input[:] = [new if i == old else i for i in node.input]
        out.name = new
    onnx.save(m, str(onnx_path))


def convert_layers_js(model_js: Path, output: Path, opset: int, outputs: list[tuple[str, str]],
                      input_name: str = "input") -> dict:
    """A Keras layers model bundled as minified JS (nsfwjs) -> ONNX whose outputs are the
    named layers, plus weights.npz (dequantized weights by name) beside it."""
    import numpy as np
    import tensorflow as tf
    import tf2onnx

    spec, data = read_layers_bundle(model_js)
    weights = decode_weights(spec["weightsManifest"], data)
    topology = spec["modelTopology"]
    config = topology.get("model_config", topology)
    keras_model = tf.keras.models.model_from_json(json.dumps(config))
    missing = []
    for layer in keras_model.layers:
        values = []
        for var in layer.weights:
            key = var.name.split(":")[0]
            if key not in weights:  # Keras 2.2 names batch-norm variables the same way
                missing.append(key)
                continue
            values.append(weights[key])
        if values and len(values) == len(layer.weights):
            layer.set_weights(values)
    if missing:
        raise ConvertError(f"{model_js}: no weights for {', '.join(missing[:5])}"
                           + (" ..." if len(missing) > 5 else ""))
    try:
        outs = [keras_model.get_layer(layer).output for _, layer in outputs]
    except ValueError as e:
        raise ConvertError(f"{model_js}: {e}") from None
    shape = keras_model.input_shape
    sub = tf.keras.Model(keras_model.input, outs)
    sig = (tf.TensorSpec((None, *shape[1:]), tf.float32, name=input_name),)
    tf2onnx.convert.from_keras(sub, input_signature=sig, opset=opset, output_path=str(output))
    _rename_outputs(output, [name for name, _ in outputs])
    np.savez(output.with_name("weights.npz"), **weights)
    return _summary(output)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("kind", choices=("graph", "layers-js"))
    p.add_argument("model", type=Path, help="model.json (graph) or model.min.js (layers-js)")
    p.add_argument("output", type=Path, help="the .onnx file to write")
    p.add_argument("--opset", type=int, default=13)
    p.add_argument("--outputs", default="",
                   help="layers-js: comma-separated NAME=LAYER pairs that become the outputs")
    a = p.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        if a.kind == "graph":
            summary = convert_graph(a.model, a.output, a.opset)
        else:
            pairs = [tuple(x.split("=", 1)) for x in a.outputs.split(",") if x]
            if not pairs or any(len(x) != 2 for x in pairs):
                raise ConvertError("--outputs NAME=LAYER,... is required for layers-js")
            summary = convert_layers_js(a.model, a.output, a.opset, pairs)  # type: ignore[arg-type]
    except ConvertError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
