"""`models pull` against a real HTTP server acting as the npm registry: integrity, hostile
tarballs, offline, idempotence, checksum checks, conversion failures, and the CLI.

The converter (TensorFlow) is replaced by a tiny script given as --converter-python that
writes a real (tiny) ONNX model, so these tests run in seconds without TensorFlow; the real
conversion is checked on the real pulled models in test_pull_real.py."""

from __future__ import annotations

import base64
import hashlib
import http.server
import io
import json
import os
import socket
import stat
import sys
import tarfile
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from visionflow.core.errors import Error, UnsafeInputError
from visionflow.models import pull as pull_mod
from visionflow.models import registry
from visionflow.models.pull import PullError, npm_registry, pull

PACKAGE, VERSION = "@test/tiny-models", "1.0.0"
FILES = {"models/tiny.json": b'{"format": "graph-model", "weights": "tiny.bin"}',
         "models/tiny.bin": bytes(range(256)) * 10}

FAKE_CONVERTER = r'''#!{python}
"""Stands in for the converter environment's python: `python convert_tfjs.py KIND MODEL OUT`."""
import json, os, sys
script, kind, model, out, *rest = sys.argv[1:]
with open(os.environ["FAKE_RECORD"], "a") as f:
    f.write(json.dumps({{"script": script, "kind": kind, "model": model, "rest": rest,
                        "model_bytes": open(model, "rb").read().decode()}}) + "\n")
if os.environ.get("FAKE_FAIL"):
    print("tf2onnx exploded: unsupported op Foo", file=sys.stderr)
    sys.exit(3)
import onnx
from onnx import TensorProto, helper
node = helper.make_node("Relu", ["input"], ["output"])
shape = [1, 8, 8, 3]
graph = helper.make_graph([node], "tiny",
                          [helper.make_tensor_value_info("input", TensorProto.FLOAT, shape)],
                          [helper.make_tensor_value_info("output", TensorProto.FLOAT, shape)])
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
model.ir_version = 8
onnx.save(model, out)
print("converted")
print(json.dumps({{"inputs": [{{"name": "input", "dtype": "float32", "shape": [1, 8, 8, 3]}}],
                  "outputs": [{{"name": "output", "dtype": "float32", "shape": [1, 8, 8, 3]}}],
                  "opset": 13}}))
'''


def make_tgz(members: dict[str, bytes], *, links: dict[str, str] | None = None,
             raw_names: dict[str, bytes] | None = None) -> bytes:
    """An npm-style tarball: files under package/, optional symlinks and members whose names
    are taken as they are (absolute, '..')."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in {**{f"package/{k}": v for k, v in members.items()},
                           **(raw_names or {})}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(f"package/{name}")
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tar.addfile(info)
    return buf.getvalue()


def integrity(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


class Registry:
    """A local npm registry: routes path -> (status, body); counts the requests."""

    def __init__(self):
        self.routes: dict[str, tuple[int, bytes]] = {}
        self.hits: list[str] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                outer.hits.append(self.path)
                status, body = outer.routes.get(self.path, (404, b'{"error":"Not found"}'))
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def publish(self, tgz: bytes, *, claimed: str | None = None,
                package: str = PACKAGE, version: str = VERSION) -> str:
        """Serve `tgz` as package@version; the metadata claims `claimed` integrity (default:
        the tarball's own). Returns the integrity claimed."""
        claimed = claimed or integrity(tgz)
        tar_path = f"/tarballs/{package.replace('/', '-')}-{version}.tgz"
        meta = {"name": package, "version": version,
                "dist": {"tarball": self.url + tar_path, "integrity": claimed}}
        self.routes[f"/{package.replace('/', '%2F')}/{version}"] = (200, json.dumps(meta).encode())
        self.routes[tar_path] = (200, tgz)
        return claimed

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def npm():
    reg = Registry()
    yield reg
    reg.close()


@pytest.fixture
def models_home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "models"
    monkeypatch.setenv("VISIONFLOW_MODELS_DIR", str(home))
    return home


@pytest.fixture
def fake_converter(tmp_path, monkeypatch) -> Path:
    pytest.importorskip("onnx")
    script = tmp_path / "fake-python"
    script.write_text(FAKE_CONVERTER.format(python=sys.executable))
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("FAKE_RECORD", str(tmp_path / "converter-calls.jsonl"))
    return script


def calls(tmp_path: Path) -> list[dict]:
    rec = tmp_path / "converter-calls.jsonl"
    return [json.loads(line) for line in rec.read_text().splitlines()] if rec.exists() else []


def tiny_spec(pinned: str, name: str = "tiny", files=tuple(FILES)) -> registry.ModelSpec:
    return registry.ModelSpec(
        name, "detect", "a tiny test model", "visionflow.models.onnx_detector:OnnxDetector",
        registry.NpmSource(PACKAGE, VERSION, pinned, tuple(files)), ("graph", "tiny.json"),
        licence="MIT", redistributable=True, classes=("a", "b"), input_size=(8, 8))


@pytest.fixture
def tiny(npm, monkeypatch):
    """The tiny model published on the local registry and pinned in the registry."""
    pinned = npm.publish(make_tgz(FILES))
    monkeypatch.setitem(registry.SPECS, "tiny", tiny_spec(pinned))
    return pinned


def no_leftovers(home: Path) -> None:
    if home.exists():
        hidden = [p.name for p in home.iterdir() if p.name.startswith(".")
                  and p.name != ".logs"]
        assert hidden == [], f"temporary files left behind: {hidden}"


def test_pull_downloads_checks_converts_and_records_checksums(npm, tiny, models_home,
                                                              fake_converter, tmp_path):
    res = pull(["tiny"], registry=npm.url, converter_python=fake_converter)
    assert [(r["name"], r["status"]) for r in res] == [("tiny", "pulled")]
    folder = models_home / "tiny"
    # only the wanted files, byte for byte, and the converter ran on them
    for rel, data in FILES.items():
        assert (folder / "tfjs" / Path(rel).name).read_bytes() == data
    (call,) = calls(tmp_path)
    assert call["kind"] == "graph" and call["model"].endswith("tfjs/tiny.json")
    assert call["model_bytes"] == FILES["models/tiny.json"].decode()
    assert Path(call["script"]).name == "convert_tfjs.py"
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["source"] == f"npm:{PACKAGE}@{VERSION}" and manifest["integrity"] == tiny
    assert set(manifest["files"]) == {"model.onnx", "tfjs/tiny.json", "tfjs/tiny.bin"}
    for rel, entry in manifest["files"].items():
        data = (folder / rel).read_bytes()
        assert entry == {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
    # the model ran in onnxruntime: its io is what the session reported
    assert manifest["io"]["inputs"][0]["name"] == "input"
    assert manifest["io"]["outputs"][0]["shape"] == [1, 8, 8, 3]
    no_leftovers(models_home)


def test_pulling_again_verifies_and_does_nothing(npm, tiny, models_home, fake_converter,
                                                 tmp_path):
    pull(["tiny"], registry=npm.url, converter_python=fake_converter)
    hits, mtime = len(npm.hits), (models_home / "tiny" / "model.onnx").stat().st_mtime_ns
    res = pull(["tiny"], registry=npm.url, converter_python=fake_converter)
    assert res[0]["status"] == "already pulled"
    assert len(npm.hits) == hits  # no network
    assert len(calls(tmp_path)) == 1  # no conversion
    assert (models_home / "tiny" / "model.onnx").stat().st_mtime_ns == mtime


def test_a_changed_file_is_reported_and_force_repairs_it(npm, tiny, models_home,
                                                         fake_converter, tmp_path):
    pull(["tiny"], registry=npm.url, converter_python=fake_converter)
    bin_file = models_home / "tiny" / "tfjs" / "tiny.bin"
    data = bytearray(bin_file.read_bytes())
    data[100] ^= 0xFF  # same size, different content
    bin_file.write_bytes(bytes(data))
    with pytest.raises(PullError, match=r"tfjs/tiny.bin has changed .*--force"):
        pull(["tiny"], registry=npm.url, converter_python=fake_converter)
    assert "tfjs/tiny.bin has changed" in registry.model_info("tiny")["check"]
    (models_home / "tiny" / "model.onnx").unlink()
    assert "model.onnx is missing" in registry.status("tiny", verify=True)["check"]
    res = pull(["tiny"], registry=npm.url, converter_python=fake_converter, force=True)
    assert res[0]["status"] == "pulled"
    assert registry.model_info("tiny")["check"] == "ok"
    assert bin_file.read_bytes() == FILES["models/tiny.bin"]
    no_leftovers(models_home)


def test_registry_integrity_differing_from_the_pinned_one_is_refused(npm, models_home,
                                                                     fake_converter,
                                                                     monkeypatch):
    tgz = make_tgz(FILES)
    npm.publish(tgz)
    monkeypatch.setitem(registry.SPECS, "tiny", tiny_spec(integrity(b"another tarball")))
    with pytest.raises(PullError, match="integrity mismatch: the registry says"):
        pull(["tiny"], registry=npm.url, converter_python=fake_converter)
    assert not (models_home / "tiny").exists()
    assert not any(p.endswith(".tgz") for p in npm.hits)  # refused before downloading


def test_a_tarball_not_matching_its_integrity_is_refused(npm, models_home, fake_converter,
                                                         monkeypatch, tmp_path):
    good = make_tgz(FILES)
    pinned = npm.publish(make_tgz({**FILES, "models/tiny.bin": b"tampered"}),
                         claimed=integrity(good))
    monkeypatch.setitem(registry.SPECS, "tiny", tiny_spec(pinned))
    with pytest.raises(PullError, match="integrity mismatch: the download has sha512-"):
        pull(["tiny"], registry=npm.url, converter_python=fake_converter)
    assert not (models_home / "tiny").exists() and calls(tmp_path) == []
    no_leftovers(models_home)


@pytest.mark.parametrize("raw", ["package/../../evil.txt", "/tmp/evil-abs.txt",
                                 "package/models/../../../evil.txt"])
def test_a_tarball_with_paths_leaving_the_package_is_refused(npm, models_home, fake_converter,
                                                             monkeypatch, tmp_path, raw):
    pinned = npm.publish(make_tgz(FILES, raw_names={raw: b"pwned"}))
    monkeypatch.setitem(registry.SPECS, "tiny", tiny_spec(pinned))
    with pytest.raises(UnsafeInputError, match="refusing the whole package"):
        pull(["tiny"], registry=npm.url, converter_python=fake_converter)
    assert not (models_home / "tiny").exists()
    assert not (tmp_path / "evil.txt").exists() and not (models_home.parent / "evil.txt").exists()
    no_leftovers(models_home)


def test_a_needed_file_that_is_a_link_is_refused(npm, models_home, fake_converter, monkeypatch):
    members = {"models/tiny.json": FILES["models/tiny.json"]}
    pinned = npm.publish(make_tgz(members, links={"models/tiny.bin": "/etc/passwd"}))
    monkeypatch.setitem(registry.SPECS, "tiny", tiny_spec(pinned))
    with pytest.raises(UnsafeInputError, match="'package/models/tiny.bin' is a link"):
        pull(["tiny"], registry=npm.url, converter_python=fake_converter)
    assert not (models_home / "tiny").exists()


def test_an_oversized_member_and_a_missing_file_are_refused(npm, models_home, fake_converter,
                                                           monkeypatch):
    pinned = npm.publish(make_tgz(FILES))
    monkeypatch.setitem(registry.SPECS, "tiny", tiny_spec(pinned))
    monkeypatch.setattr(pull_mod, "MAX_MEMBER", 1000)
    with pytest.raises(UnsafeInputError, match="tiny.bin' has 2560 bytes, more than 1000"):
        pull(["tiny"], registry=npm.url, converter_python=fake_converter)
    monkeypatch.setattr(pull_mod, "MAX_MEMBER", 1 << 20)
    monkeypatch.setitem(registry.SPECS, "tiny",
                        tiny_spec(pinned, files=(*FILES, "models/absent.bin")))
    with pytest.raises(PullError, match="the package has no models/absent.bin"):
        pull(["tiny"], registry=npm.url, converter_python=fake_converter)
    assert not (models_home / "tiny").exists()


def test_offline_is_one_clear_line(models_home, fake_converter, monkeypatch):
    monkeypatch.setitem(registry.SPECS, "tiny", tiny_spec(integrity(b"x")))
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(PullError) as e:
        pull(["tiny"], registry=f"http://127.0.0.1:{port}", converter_python=fake_converter)
    msg = str(e.value)
    assert msg.startswith(f"cannot reach http://127.0.0.1:{port}/@test%2Ftiny-models/1.0.0")
    assert "refused" in msg.lower() and "VISIONFLOW_NPM_REGISTRY" in msg and "\n" not in msg


def test_an_unknown_version_says_so(npm, models_home, fake_converter, monkeypatch):
    monkeypatch.setitem(registry.SPECS, "tiny", tiny_spec(integrity(b"x")))
    with pytest.raises(PullError, match=r"HTTP 404 .*no such package version"):
        pull(["tiny"], registry=npm.url, converter_python=fake_converter)


def test_a_failed_conversion_names_its_log(npm, tiny, models_home, fake_converter,
                                           monkeypatch):
    monkeypatch.setenv("FAKE_FAIL", "1")
    with pytest.raises(PullError, match=r"converting tiny to ONNX failed \(exit 3\); log: ") as e:
        pull(["tiny"], registry=npm.url, converter_python=fake_converter)
    log = Path(str(e.value).rsplit("log: ", 1)[1])
    assert "tf2onnx exploded: unsupported op Foo" in log.read_text()
    assert not (models_home / "tiny").exists()
    no_leftovers(models_home)


def test_a_converted_model_that_does_not_run_is_refused(npm, tiny, models_home, tmp_path):
    pytest.importorskip("onnxruntime")
    bad = tmp_path / "bad-python"
    bad.write_text(f"#!{sys.executable}\nimport sys\nopen(sys.argv[4], 'wb').write(b'not onnx')\n")
    bad.chmod(0o755)
    with pytest.raises(PullError, match="does not run in onnxruntime"):
        pull(["tiny"], registry=npm.url, converter_python=bad)
    assert not (models_home / "tiny").exists()


def test_a_missing_converter_python_and_unknown_names(models_home, tmp_path):
    with pytest.raises(PullError, match="--converter-python is not an executable file"):
        pull(["centernet"], converter_python=tmp_path / "nope", registry="http://127.0.0.1:9")
    with pytest.raises(Error, match="unknown model 'centernett'; did you mean 'centernet'"):
        pull(["centernett"])
    with pytest.raises(PullError, match="name the models to pull"):
        pull([])


def test_several_models_share_one_download_and_failures_do_not_stop_the_rest(
        npm, tiny, models_home, fake_converter, monkeypatch):
    monkeypatch.setitem(registry.SPECS, "tiny2", tiny_spec(tiny, name="tiny2"))
    monkeypatch.setitem(registry.SPECS, "broken",
                        tiny_spec(tiny, name="broken", files=("models/none.bin",)))
    with pytest.raises(PullError, match=r"1 of 3 models failed: broken: .*has no models/none"):
        pull(["tiny", "broken", "tiny2"], registry=npm.url, converter_python=fake_converter)
    assert (models_home / "tiny" / "model.onnx").is_file()
    assert (models_home / "tiny2" / "model.onnx").is_file()
    assert sum(p.endswith(".tgz") for p in npm.hits) == 1


def test_a_foreign_folder_is_not_replaced_without_force(npm, tiny, models_home, fake_converter):
    mine = models_home / "tiny" / "notes.txt"
    mine.parent.mkdir(parents=True)
    mine.write_text("mine")
    with pytest.raises(PullError, match="without a manifest.json .* --force"):
        pull(["tiny"], registry=npm.url, converter_python=fake_converter)
    assert mine.read_text() == "mine"


def test_npm_registry_comes_from_env_then_npmrc(tmp_path, monkeypatch):
    for var in ("VISIONFLOW_NPM_REGISTRY", "npm_config_registry", "NPM_CONFIG_REGISTRY"):
        monkeypatch.delenv(var, raising=False)
    rc = tmp_path / "npmrc"
    monkeypatch.setenv("NPM_CONFIG_USERCONFIG", str(rc))
    assert npm_registry() == "https://registry.npmjs.org"
    rc.write_text("fund=false\nregistry = https://mirror.example/npm/\n")
    assert npm_registry() == "https://mirror.example/npm"
    monkeypatch.setenv("npm_config_registry", "https://npm-config.example")
    assert npm_registry() == "https://npm-config.example"
    monkeypatch.setenv("VISIONFLOW_NPM_REGISTRY", "http://127.0.0.1:4873/")
    assert npm_registry() == "http://127.0.0.1:4873"


def test_metadata_url_escapes_scoped_packages():
    assert pull_mod.metadata_url("https://r.example/", "@a/b", "1.2.3") == \
        "https://r.example/@a%2Fb/1.2.3"
    assert pull_mod.metadata_url("https://r.example", "nsfwjs", "4.3.0") == \
        "https://r.example/nsfwjs/4.3.0"


# --- the CLI ---------------------------------------------------------------------------------

runner = CliRunner()


def cli(*args):
    from visionflow.cli.main import app
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def test_cli_pull_list_info(npm, tiny, models_home, fake_converter):
    r = cli("models", "info", "tiny", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["pulled"] is False
    r = cli("models", "pull", "tiny", "--registry", npm.url, "--converter-python",
            fake_converter, "--json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)[0]["status"] == "pulled"
    rows = {row["name"]: row for row in json.loads(cli("models", "list", "--json").stdout)}
    assert rows["tiny"]["pulled"] is True and rows["tiny"]["licence"] == "MIT"
    size = sum(p.stat().st_size for p in (models_home / "tiny").rglob("*")
               if p.is_file() and p.name not in ("manifest.json", ".visionflow-output"))
    assert rows["tiny"]["size"] == size
    assert rows["grabcut"]["source"] == "built-in"
    info = json.loads(cli("models", "info", "tiny", "--json").stdout)
    assert info["check"] == "ok" and info["classes"] == ["a", "b"]
    assert info["files"]["model.onnx"]["sha256"] == hashlib.sha256(
        (models_home / "tiny" / "model.onnx").read_bytes()).hexdigest()
    text = cli("models", "info", "tiny")
    assert text.exit_code == 0 and "check" in text.stdout and "ok" in text.stdout
    again = cli("models", "pull", "tiny", "--registry", npm.url, "--converter-python",
                fake_converter)
    assert again.exit_code == 0 and "tiny: already pulled" in again.stderr


def test_cli_errors_are_one_line_and_exit_1(models_home, fake_converter, monkeypatch):
    monkeypatch.setitem(registry.SPECS, "tiny", tiny_spec(integrity(b"x")))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = cli("models", "pull", "tiny", "--registry", f"http://127.0.0.1:{port}",
            "--converter-python", fake_converter)
    assert r.exit_code == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot reach")
    assert "Traceback" not in r.output
    r = cli("models", "info", "nope")
    assert r.exit_code == 1 and "unknown model 'nope'" in r.stderr
    r = cli("models", "pull")
    assert r.exit_code == 1 and "name the models to pull" in r.stderr


def test_cli_info_fails_when_a_pulled_file_changed(npm, tiny, models_home, fake_converter):
    assert cli("models", "pull", "tiny", "--registry", npm.url, "--converter-python",
               fake_converter).exit_code == 0
    with open(models_home / "tiny" / "model.onnx", "ab") as f:
        f.write(b"x")
    r = cli("models", "info", "tiny")
    assert r.exit_code == 1 and "model.onnx has" in r.stdout


def test_models_dir_env_is_respected(models_home):
    assert registry.model_dir("centernet") == models_home / "centernet"
    assert os.environ["VISIONFLOW_MODELS_DIR"] == str(models_home)


def test_offline_stops_at_the_first_model_with_one_message(models_home, fake_converter,
                                                           monkeypatch):
    for name in ("tiny", "tiny2"):
        monkeypatch.setitem(registry.SPECS, name, tiny_spec(integrity(b"x"), name=name))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(pull_mod.OfflineError) as e:
        pull(["tiny", "tiny2"], registry=f"http://127.0.0.1:{port}",
             converter_python=fake_converter)
    assert str(e.value).count("cannot reach") == 1
    assert not models_home.exists() or not any(models_home.iterdir())
