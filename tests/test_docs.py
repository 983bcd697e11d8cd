"""The README tells the truth: every format it names exists, every format is named, and every
command it shows exists."""

import re
from pathlib import Path

import visionflow as vf

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_readme_names_every_format_and_only_real_ones():
    table = README[README.index("## Formats"):README.index("## Check, fix")]
    named = set(re.findall(r"`([a-z][a-z0-9-]*)`", table))
    formats = {f.name for f in vf.formats()}
    assert formats <= named, f"missing from README: {sorted(formats - named)}"
    assert named - {"visionflow", "formats"} <= formats | {"datasets"}, sorted(named - formats)


def test_readme_commands_exist():
    from typer.testing import CliRunner

    from visionflow.cli.main import app
    code = "\n".join(re.findall(r"```bash\n(.*?)```", README, flags=re.S))
    used = set(re.findall(r"^visionflow ([a-z]+(?: (?:create|diff|export|list|show|tag|delete))?)",
                          code.replace("&& ", "\n"), flags=re.M))
    assert used
    for command in used:
        result = CliRunner().invoke(app, [*command.split(), "--help"])
        assert result.exit_code == 0, command


def test_readme_gives_exactly_two_commands():
    block = README[README.index("## Two commands"):README.index("## Use it")]
    assert re.findall(r"^make (\w+)", block, flags=re.M) == ["demo", "test"]
