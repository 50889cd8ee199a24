"""The package people install: a wheel with the templates, the license and the
``funasr-fleet`` command; every subcommand answers --help."""

import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from funasr_fleet.cli import cli
from helpers import REPO, build_wheel

SUBCOMMANDS = ["probe", "status", "models", "models fetch", "xiaozhi-config", "lab", "lab up",
               "lab status", "lab down"]


def test_the_wheel_carries_the_templates_the_license_and_the_command(tmp_path):
    wheel = build_wheel(tmp_path)
    names = zipfile.ZipFile(wheel).namelist()
    templates = {name.rsplit("/", 1)[1] for name in names if name.startswith("funasr_fleet/templates/")}
    assert templates == {path.name for path in (REPO / "templates").glob("*.j2")}
    assert any(name.endswith("/LICENSE") for name in names)
    entry_points = next(name for name in names if name.endswith("entry_points.txt"))
    assert "funasr-fleet = funasr_fleet.cli:run" in zipfile.ZipFile(wheel).read(entry_points).decode()


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_every_subcommand_answers_help(command):
    result = CliRunner().invoke(cli, [*command.split(), "--help"])
    assert result.exit_code == 0 and "Usage: " in result.output, result.output


def test_the_top_level_help_lists_every_command():
    result = CliRunner().invoke(cli, ["--help"])
    assert all(f"  {name} " in result.output for name in ("probe", "status", "models", "xiaozhi-config", "lab"))


def test_no_module_is_over_400_lines():
    """One job per module: the package's layout keeps each module short (issue 13)."""
    package = Path(__file__).resolve().parents[2] / "funasr_fleet"
    long = {str(path.relative_to(package)): count for path in package.rglob("*.py")
            if (count := len(path.read_text(encoding="utf-8").splitlines())) > 400}
    assert not long, long
