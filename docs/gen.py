"""The generated reference pages, built from the live code at every `mkdocs build` (a mkdocs
hook, see mkdocs.yml): the CLI reference from the Typer app, a page per format from the format
registry, the recipe operations from their declarations, the Python API from `visionflow.__all__`
(rendered by mkdocstrings from the docstrings). Nothing generated is committed, so a new
command, format, option or operation is documented by the next build, and never stale.

The page functions are plain (tests/docs import them); the hooks at the end add the pages to
the build and to the navigation.
"""

from __future__ import annotations

import inspect
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "src") not in sys.path:  # building from a checkout without `pip install -e`
    sys.path.insert(0, str(ROOT / "src"))

HELP_WIDTH = 100


# --- CLI ---------------------------------------------------------------------------------------

def cli_commands() -> list[tuple[str, object, object]]:
    """(full name, click command, click context) for every command and sub-command, in the
    order `visionflow --help` lists them."""
    import typer.main

    from visionflow.cli.main import app
    root = typer.main.get_command(app)
    out = []

    def walk(cmd, name, parent):
        ctx = cmd.make_context(name, [], parent=parent, resilient_parsing=True,
                               terminal_width=HELP_WIDTH, max_content_width=HELP_WIDTH)
        out.append((name if parent is None else ctx.command_path, cmd, ctx))
        if hasattr(cmd, "list_commands"):  # a group (Typer may vendor its own click)
            for sub in cmd.list_commands(ctx):
                walk(cmd.get_command(ctx, sub), sub, ctx)

    walk(root, "visionflow", None)
    return out


def cli_page() -> str:
    lines = ["# CLI reference", "",
             "Every command of `visionflow` with its `--help`, generated from the command "
             "definitions at each build of this site. Each command exits with status 0, or 1 "
             "with one line on stderr naming what is wrong (never a traceback).", ""]
    for name, cmd, ctx in cli_commands():
        level = "#" * min(2 + name.count(" ") - 1, 4) if name != "visionflow" else "##"
        lines += [f"{level} `{name}`", "", "```text", cmd.get_help(ctx).rstrip(), "```", ""]
    return "\n".join(lines)


# --- formats -----------------------------------------------------------------------------------

def format_module_doc(fmt) -> str:
    """The format module's docstring: its layout and the quirks of the tools that write it."""
    from visionflow.formats import registry
    module = registry.BUILTIN.get(fmt.name) or getattr(fmt.detect, "__module__", None)
    doc = inspect.getdoc(sys.modules.get(module) or __import__(module, fromlist=["_"])) \
        if module else None
    return doc or ""


def _markdown_text(doc: str) -> str:
    """Docstring prose as Markdown: indented blocks (after a blank line) kept as code, and in
    the prose `<split>`-style placeholders, `*` and `_` escaped outside code spans (else they
    vanish as HTML tags or turn into emphasis)."""
    out, in_code, blank = [], False, True
    for line in doc.splitlines():
        if not line.strip():
            out.append(line)
            blank = True
            continue
        in_code = line.startswith("    ") and (blank or in_code)
        blank = False
        if in_code:
            out.append(line)
            continue
        parts = re.split(r"(`[^`\n]*`)", line)
        out.append("".join(p if p.startswith("`") else
                           p.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
                           .replace("*", r"\*").replace("_", r"\_") for p in parts))
    return "\n".join(out)


def _option_rows(options) -> list[str]:
    if not options:
        return ["None."]
    rows = ["| option | type | default | meaning |", "|---|---|---|---|"]
    for o in options:
        d = o.describe()
        default = "" if d["default"] is None else f"`{d['default']}`"
        text = _markdown_text(d["help"].replace("\n", " ")).replace("|", r"\|")
        kind = r" \| ".join(d["choices"]) if d["choices"] else d["type"]
        rows.append(f"| `{d['name']}` | {kind} | {default} | {text} |")
    return rows


def format_page(fmt) -> str:
    held = [str(s).replace("_", " ") for s in sorted(fmt.supports)]  # as `visionflow formats`
    modes = " and ".join(m for m, f in (("read", fmt.read), ("written", fmt.write)) if f)
    lines = [f"# `{fmt.name}`", "", _markdown_text(fmt.description) + ".", "",
             f"- **Read / write:** {modes or 'neither'} by visionflow.",
             f"- **Holds:** {', '.join(held) or 'nothing beyond images'}.",
             ]
    if fmt.aliases:
        lines.append(f"- **Also accepted as:** {', '.join(f'`{a}`' for a in fmt.aliases)}.")
    lines += ["", "## Layout and quirks", "", _markdown_text(format_module_doc(fmt)) or
              "(The format module has no docstring.)", "",
              "## Reader options (`-I KEY=VALUE`, `vf.load(..., key=value)`)", "",
              *_option_rows(fmt.read_options), "",
              "## Writer options (`-O KEY=VALUE`, `vf.write(..., key=value)`)", "",
              *_option_rows(fmt.write_options), "",
              "## Use", "",
              (f"Write it with `visionflow convert SRC DST --to {fmt.name}` "
               f"(`vf.write(ds, path, \"{fmt.name}\")`). " if fmt.write else "") +
              (f"Read it with `--from {fmt.name}` (`vf.load(path, \"{fmt.name}\")`), or let "
               "detection find it." if fmt.read else ""), ""]
    return "\n".join(lines)


def formats_index() -> str:
    import visionflow as vf
    lines = ["# Formats", "",
             "Every format visionflow reads and writes, from the format registry (plugins "
             "installed under the `visionflow.formats` entry point included). Each page says "
             "how the files are laid out, what the format can hold, its reader and writer "
             "options, and the quirks of the tools that write it.", "",
             "| format | read | write | description |", "|---|---|---|---|"]
    for f in vf.formats():
        lines.append(f"| [`{f.name}`]({f.name}.md) | {'yes' if f.read else '-'} | "
                     f"{'yes' if f.write else '-'} | {_markdown_text(f.description)} |")
    return "\n".join(lines) + "\n"


# --- recipe operations ------------------------------------------------------------------------

def _value(v) -> str:
    return "null" if v is None else v if isinstance(v, str) else json.dumps(v)


def ops_page() -> str:
    from visionflow.transforms.ops import catalog
    lines = ["# Recipe operations", "",
             "Every operation a recipe (`visionflow transform --recipe`, `version create "
             "--recipe`, `vf.transforms.Recipe`, `vf.torch.DetectionDataset(recipe=...)`) can "
             "use, from the operations' own declarations: the same table as `visionflow ops`. "
             "A step is `{operation: {parameter: value}}`; every operation also takes `p`, the "
             "chance it runs for an output image. Geometric operations move boxes, polygons, "
             "masks and keypoints with the pixels.", ""]
    for r in catalog():
        lines += [f"## `{r['name']}`", "", _markdown_text(r["description"]), "",
                  f"Geometric: {'yes' if r['geometric'] else 'no'}.", "",
                  "| parameter | type | default | meaning |", "|---|---|---|---|"]
        for p in r["parameters"]:
            note = f" (old name: `{p['deprecated_name']}`)" if "deprecated_name" in p else ""
            help_ = _markdown_text(p["help"]).replace("|", r"\|")
            kind = p["type"].replace("|", r"\|")
            lines.append(f"| `{p['name']}` | {kind} | "
                         f"`{_value(p['default'])}` | {help_}{note} |")
        lines += ["", "```yaml", r["example"], "```", ""]
    return "\n".join(lines)


# --- Python API -------------------------------------------------------------------------------

def api_objects() -> list[tuple[str, str]]:
    """(public name, dotted path where it is defined) for everything `import visionflow`
    exports, the lazy names included, plus the PyTorch bridge module."""
    import visionflow as vf
    out = []
    for name in sorted(vf.__all__, key=str.lower):
        if name.startswith("__"):
            continue
        obj = getattr(vf, name)
        if inspect.ismodule(obj):
            path = obj.__name__
        elif inspect.isclass(obj) or inspect.isfunction(obj):
            path = f"{obj.__module__}.{obj.__qualname__}"
        else:
            path = f"{vf.__name__}.{name}"  # a constant: documented where it is exported
        out.append((name, path))
    out.append(("torch", "visionflow.bridges.torch"))
    return out


def api_page() -> str:
    lines = ["# Python API", "",
             "Everything `import visionflow as vf` exports, generated from the docstrings at "
             "each build. Bridges and heavy modules are imported on first use "
             "(`vf.torch` needs `pip install 'visionflow[torch]'`).", ""]
    for name, path in api_objects():
        lines += [f"## `vf.{name}`", "", f"::: {path}", "    options:",
                  "      show_root_heading: false", "      heading_level: 3", ""]
    return "\n".join(lines)


# --- the mkdocs hooks ---------------------------------------------------------------------------

def pages() -> dict[str, str]:
    """Every generated page: path under docs/ -> Markdown."""
    import visionflow as vf
    out = {"reference/cli.md": cli_page(), "reference/ops.md": ops_page(),
           "reference/api.md": api_page(), "formats/index.md": formats_index()}
    for f in vf.formats():
        out[f"formats/{f.name}.md"] = format_page(f)
    return out


_PAGES: dict[str, str] = {}


def on_config(config):
    """Generate the pages once per build and list the formats in the navigation."""
    import visionflow as vf
    _PAGES.clear()
    _PAGES.update(pages())
    fmts = [{f"{f.name}": f"formats/{f.name}.md"} for f in vf.formats()]
    nav = [item for item in (config.nav or []) if not (isinstance(item, dict) and "Formats" in item)]
    nav.append({"Formats": ["formats/index.md", *fmts]})
    config.nav = nav
    return config


def on_files(files, config):
    from mkdocs.structure.files import File
    for path, text in _PAGES.items():
        files.append(File.generated(config, path, content=text))
    return files
