"""
Failures an operator can fix get one line naming the thing and the fix, and a documented
exit status, never a Python traceback: `funasr-fleet` exits 2 for a missing inventory, a
lab that is not up and a hub that does not answer, and 1 when `status` finds a host
unreachable (its row says so); pyinfra on the lab's inventory without a lab says so too, and
pyinfra refuses a host whose user cannot sudo without a password (or is not root without sudo)
before any host changes.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import REPO, free_port

PYINFRA = str(Path(sys.executable).with_name("pyinfra"))


def run(args, cwd, **env):
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=180,
                          env={**os.environ, **env})
    done.output = done.stdout + done.stderr
    assert "Traceback" not in done.output, done.output
    return done


def funasr_fleet(*args, cwd, **env):
    return run([sys.executable, "-m", "funasr_fleet", *args], cwd, **env)


@pytest.fixture
def one_host(tmp_path):
    """An inventory of one host nothing answers for (SSH and hub on closed local ports)."""
    (tmp_path / "inventory.py").write_text(
        f"hosts = [('asr-1', {{'ssh_hostname': '127.0.0.1', 'ssh_port': {free_port()}, "
        f"'funasr_port': {free_port()}, 'funasr_tls': 'off', "
        f"'funasr_models_endpoint': 'http://127.0.0.1:{free_port()}', "
        f"'funasr_models_cache_dir': '{tmp_path / 'cache'}'}})]\n")
    return tmp_path


def test_an_inventory_that_does_not_exist(tmp_path):
    done = funasr_fleet("status", "inventory/nope.py", cwd=tmp_path)
    assert done.returncode == 2
    assert "funasr-fleet: inventory inventory/nope.py: no such file; give the path of a pyinfra " \
           "inventory file" in done.stderr


def test_a_lab_that_is_not_up(tmp_path):
    done = funasr_fleet("status", str(REPO / "inventory" / "lab.py"), cwd=REPO, FUNASR_LAB_DIR=str(tmp_path))
    assert done.returncode == 2
    assert f"no lab state at {tmp_path}/state.json: the lab is not up; start it with " \
           "`funasr-fleet lab up`" in done.stderr


def test_pyinfra_on_the_labs_inventory_without_a_lab(tmp_path):
    done = run([PYINFRA, "-y", "inventory/lab.py", "deploy.py"], REPO, FUNASR_LAB_DIR=str(tmp_path))
    assert done.returncode != 0 and "the lab is not up; start it with `funasr-fleet lab up`" in done.output


def test_status_with_an_unreachable_host_is_a_row_and_exit_1(one_host):
    done = funasr_fleet("status", "inventory.py", cwd=one_host)
    assert done.returncode == 1
    [row] = [line for line in done.stdout.splitlines() if line.startswith("asr-1 ")]
    assert "UNHEALTHY (unreachable: Could not connect (" in row


def test_a_hub_that_does_not_answer(one_host):
    done = funasr_fleet("models", "fetch", "inventory.py", cwd=one_host)
    assert done.returncode == 2
    assert "the model hub did not answer" in done.stderr
    assert "point funasr_models_endpoint at a mirror that it reaches" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


@pytest.fixture
def local_deploy_user(tmp_path):
    """An inventory of ``@local`` as user "deploy" (uid 1000): ``id`` and ``sudo`` on the
    run's PATH are stand-ins, sudo asking for a password as it does for a user without a
    NOPASSWD rule; returns ``run(data)`` -> the finished ``pyinfra -y`` of deploy.py."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fakes = {"id": 'case "$1" in -un) echo deploy;; -u) echo 1000;; *) exec /usr/bin/id "$@";; esac\n',
             "sudo": 'echo "sudo: a password is required" >&2; exit 1\n'}
    for name, script in fakes.items():
        (bin_dir / name).write_text("#!/bin/sh\n" + script)
        (bin_dir / name).chmod(0o755)

    def deploy(data):
        data = {"funasr_tls": "off", "funasr_models_endpoint": f"http://127.0.0.1:{free_port()}",
                "funasr_models_cache_dir": str(tmp_path / "cache"), **data}
        (tmp_path / "inventory.py").write_text(f"hosts = [('@local', {data!r})]\n")
        return run([PYINFRA, "-y", "inventory.py", str(REPO / "deploy.py")], tmp_path,
                   PATH=f"{bin_dir}:{os.environ['PATH']}")
    return deploy


NOPASSWD = "add `deploy ALL=(ALL) NOPASSWD:ALL` to /etc/sudoers.d/funasr-fleet on the host"


def test_pyinfra_refuses_a_host_whose_user_cannot_sudo_without_a_password(local_deploy_user, tmp_path):
    # A GPU profile reads the host (its GPUs, under sudo) before the control node fetches
    # anything: without the check, pyinfra's sudo would prompt there (a traceback here).
    done = local_deploy_user({"_sudo": True, "funasr_profile": "offline-gpu", "funasr_version": "0.2.1"})
    assert done.returncode == 1  # run() asserted: no traceback (pyinfra's own sudo would prompt)
    [line] = [line for line in done.output.splitlines() if "@local:" in line]
    assert line.endswith(f"@local: user deploy cannot run sudo without a password; {NOPASSWD}, or set "
                         "ssh_user = \"root\". Nothing was changed on any host."), done.output
    assert not (tmp_path / "cache").exists()  # refused before the control node fetched anything


def test_pyinfra_refuses_a_host_whose_user_is_not_root_without_sudo(local_deploy_user):
    done = local_deploy_user({"ssh_user": "deploy"})  # named (@local itself ignores it), no _sudo
    assert done.returncode == 1
    [line] = [line for line in done.output.splitlines() if "@local:" in line]
    assert line.endswith(f"@local: user deploy is not root and the run does not use sudo; set _sudo = True "
                         f"and {NOPASSWD}, or set ssh_user = \"root\". Nothing was changed on any host."), \
        done.output
