"""
The package as another project uses it: the wheel installed into a fresh virtualenv
outside this repository, a project directory holding only an inventory, the lab's
group_data files (no all.py: the defaults come from the package) and a two-line
deploy.py; it converges the lab, and a second run changes nothing.
"""

import os
import shutil
import subprocess
import sys

import pytest

from conftest import REPO, grand_total
from helpers import build_wheel

pytestmark = pytest.mark.lab

DEPLOY = "from funasr_fleet.deploys.fleet import converge\nconverge()\n"


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A fresh virtualenv with the wheel (and its dependencies from the package index)."""
    where = tmp_path_factory.mktemp("package")
    wheel = build_wheel(where)
    venv = where / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    installed = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", str(wheel)],
                               capture_output=True, text=True, timeout=900)
    assert installed.returncode == 0, installed.stderr[-3000:]
    return venv / "bin"


def test_the_installed_command_answers_help(installed):
    for command in ([], ["probe"], ["status"], ["models", "fetch"], ["xiaozhi-config"], ["lab", "up"]):
        shown = subprocess.run([str(installed / "funasr-fleet"), *command, "--help"], capture_output=True,
                               text=True, timeout=60, cwd="/")
        assert shown.returncode == 0 and shown.stdout.startswith("Usage: funasr-fleet"), (command, shown.stderr)


def test_a_project_of_its_own_converges_the_lab_with_a_two_line_deploy(lab, installed, tmp_path):
    from funasr_fleet.lab.state import lab_dir

    project = tmp_path / "project"
    (project / "inventory").mkdir(parents=True)
    (project / "group_data").mkdir()
    shutil.copy(REPO / "inventory" / "lab.py", project / "inventory" / "lab.py")
    for group in ("lab", "cpu", "gpu", "lb"):
        shutil.copy(REPO / "group_data" / f"{group}.py", project / "group_data" / f"{group}.py")
    (project / "deploy.py").write_text(DEPLOY)
    assert len(DEPLOY.splitlines()) == 2
    env = {**os.environ, "FUNASR_LAB_DIR": str(lab_dir())}
    pyinfra = [str(installed / "pyinfra"), "-y", "inventory/lab.py", "deploy.py"]
    first = subprocess.run(pyinfra, cwd=project, env=env, capture_output=True, text=True, timeout=900)
    output = first.stdout + first.stderr
    assert first.returncode == 0, output[-4000:]
    assert all(f"[{name}] FunASR healthy at " in output for name in lab.hosts), output[-4000:]
    second = subprocess.run(pyinfra, cwd=project, env=env, capture_output=True, text=True, timeout=900)
    assert grand_total(second.stdout + second.stderr)[1:3] == (0, 0), (second.stdout + second.stderr)[-4000:]
