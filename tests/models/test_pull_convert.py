"""The parts of the TF.js converter that need no TensorFlow: reading minified JS bundles,
decoding (quantized) weights, and repairing graph topologies for tf2onnx."""

from __future__ import annotations

import base64
import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from visionflow.models import convert_tfjs as ct


def to_minified_js(value) -> str:
    """Write a JSON value the way a JS minifier does: bare identifier keys, !0/!1 for
    booleans, '.5' for 0.5, single quotes where handy."""
    if value is True:
        return "!0"
    if value is False:
        return "!1"
    if value is None:
        return "null"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        text = repr(value)
        if text.startswith("0."):
            return text[1:]
        if text.startswith("-0."):
            return "-" + text[2:]
        return text
    if isinstance(value, str):
        if '"' in value and "'" not in value:
            return "'" + value.replace("\\", "\\\\") + "'"
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ",".join(to_minified_js(v) for v in value) + "]"
    items = []
    for k, v in value.items():
        key = k if k.isidentifier() and k not in ("true", "false", "null") else json.dumps(k)
        items.append(f"{key}:{to_minified_js(v)}")
    return "{" + ",".join(items) + "}"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6)
    | st.floats(allow_nan=False, allow_infinity=False, width=64).filter(lambda f: abs(f) < 1e300)
    | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20)


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_minified_js_literals_read_back_as_the_same_json(value):
    got = json.loads(ct.js_literal_to_json(to_minified_js(value)))
    assert got == value or (isinstance(value, float) and math.isclose(got, value))


def test_the_nsfwjs_bundle_shape_is_read(tmp_path):
    weights = np.array([0, 128, 255, 7], np.uint8).tobytes() + np.float32([1.5]).tobytes()
    model = ('!function(e){module.exports=e()}(function(){return function e(a,n,i){}({1:'
             '[function(e,a,n){a.exports={modelTopology:{keras_version:"2.2.4",config:{'
             'trainable:!1,rate:.25,name:\'x\'}},weightsManifest:[{paths:["group1-shard1of1"],'
             'weights:[{name:"q",shape:[4],dtype:"float32",quantization:{min:-1,'
             'scale:.5,dtype:"uint8"}},{name:"f",shape:[],dtype:"float32"}]}]}},{}]},{},[1])(1)});')
    shard = ('!function(e){module.exports=e()}(function(){return function e(a,n,i){}({1:'
             '[function(e,h,n){h.exports="' + base64.b64encode(weights).decode()
             + '"},{}]},{},[1])(1)});')
    (tmp_path / "model.min.js").write_text(model)
    (tmp_path / "group1-shard1of1.min.js").write_text(shard)
    spec, data = ct.read_layers_bundle(tmp_path / "model.min.js")
    assert spec["modelTopology"]["config"] == {"trainable": False, "rate": 0.25, "name": "x"}
    w = ct.decode_weights(spec["weightsManifest"], data)
    np.testing.assert_allclose(w["q"], [-1.0, 63.0, 126.5, 2.5])
    assert w["f"].shape == () and float(w["f"]) == 1.5
    (tmp_path / "group1-shard1of1.min.js").unlink()
    with pytest.raises(ct.ConvertError, match="weight shard group1-shard1of1.min.js is missing"):
        ct.read_layers_bundle(tmp_path / "model.min.js")


def test_weights_that_do_not_fit_their_manifest_are_refused():
    manifest = [{"weights": [{"name": "a", "shape": [2, 2], "dtype": "float32"}]}]
    with pytest.raises(ct.ConvertError, match="weight a: the weight data is truncated"):
        ct.decode_weights(manifest, b"\0" * 12)
    with pytest.raises(ct.ConvertError, match="4 bytes the manifest does not describe"):
        ct.decode_weights(manifest, b"\0" * 20)
    half = [{"weights": [{"name": "h", "shape": [2], "dtype": "float32",
                          "quantization": {"dtype": "float16", "original_dtype": "float32"}}]}]
    out = ct.decode_weights(half, np.float16([0.5, -2]).tobytes())
    assert out["h"].dtype == np.float32 and out["h"].tolist() == [0.5, -2.0]


def test_not_a_bundle_is_one_line(tmp_path):
    (tmp_path / "model.min.js").write_text("console.log('hi')")
    with pytest.raises(ct.ConvertError, match="not a browserify bundle"):
        ct.read_layers_bundle(tmp_path / "model.min.js")


def test_graph_repair_adds_targs_and_missing_defaults_only():
    model = {"modelTopology": {"node": [
        {"name": "c", "op": "_FusedConv2D", "input": ["x", "w", "b"],
         "attr": {"num_args": {"i": "1"}, "T": {"type": "DT_FLOAT"}}},
        {"name": "d", "op": "FusedDepthwiseConv2dNative", "input": ["x", "w", "b", "p"],
         "attr": {"T": {"type": "DT_HALF"}}},
        {"name": "t", "op": "TopKV2", "input": ["x", "k"], "attr": {"sorted": {"b": False}}},
    ]}}
    defaults = {"TopKV2": {"sorted": {"b": True}, "index_type": {"type": "DT_INT32"}}}
    added = ct.repair_graph_topology(model, lambda op: defaults.get(op, {}))
    c, d, t = model["modelTopology"]["node"]
    assert c["attr"]["TArgs"] == {"list": {"type": ["DT_FLOAT"]}}
    assert d["attr"]["TArgs"] == {"list": {"type": ["DT_HALF", "DT_HALF"]}}
    assert t["attr"] == {"sorted": {"b": False}, "index_type": {"type": "DT_INT32"}}
    assert added == 3
    assert ct.repair_graph_topology(model, lambda op: defaults.get(op, {})) == 0  # idempotent


def test_the_cli_refuses_layers_js_without_outputs(capsys):
    assert ct.main(["layers-js", "model.min.js", "out.onnx"]) == 2
    assert "--outputs NAME=LAYER" in capsys.readouterr().err


def test_js_only_string_escapes_become_json():
    text = r"""{a:'it\'s \x41\x42',b:"q\"\0",c:'\v'}"""
    assert json.loads(ct.js_literal_to_json(text)) == {"a": "it's AB", "b": 'q"\0', "c": "\v"}
    with pytest.raises(ct.ConvertError, match="unterminated string literal"):
        ct.js_literal_to_json("{a:'open}")
