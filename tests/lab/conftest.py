"""
Lab fixtures: the Molecule-like scenario (converge, idempotence, verify) on real SSH hosts.

The lab is `python -m funasr_fleet.lab up --hosts 4 --lb-hosts 1`: Debian trixie systemd
containers on the local Docker engine, reached on 127.0.0.1 only; lab-1 to lab-3 are CPU
hosts, lab-4 has a SIMULATED GPU (group gpu), lab-5 is the load balancer (group lb).
``Lab.hosts`` are the server hosts; ``Lab.balancers`` the load balancers. These tests need root and Docker
(the lab starts dockerd itself when it is missing).
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PYINFRA = str(Path(sys.executable).with_name("pyinfra"))
# FUNASR_LAB_BREAK=name,...: the lab's runs go through pyinfra with those behaviours off
# (breaks.py), to show the test of a fault-table row fails without what it claims.
BREAKS = os.environ.get("FUNASR_LAB_BREAK", "")


def pyinfra_command():
    """The command the lab's deploys run: pyinfra, or pyinfra with BREAKS applied."""
    if BREAKS:
        return [sys.executable, str(Path(__file__).with_name("pyinfra_with_breaks.py"))]
    return [PYINFRA]
LAB_HOSTS = 4  # lab-1..3: CPU; lab-4: SIMULATED GPU
LAB_BALANCERS = 1  # lab-5: the load balancer (group lb) in front of lab-1..3

pytestmark = pytest.mark.lab


class Lab:
    """The running lab: its state, and helpers to deploy to it and look at its hosts."""

    def __init__(self, state):
        self.state = state
        self.hosts = [entry["name"] for entry in state["hosts"] if "lb" not in entry["groups"]]
        self.balancers = [entry["name"] for entry in state["hosts"] if "lb" in entry["groups"]]
        self.host_data_file = Path(state["ssh_key"]).parent / "host_data.json"

    def entry(self, name):
        return next(entry for entry in self.state["hosts"] if entry["name"] == name)

    def deploy(self, *args, timeout=900):
        """Run the real command; returns the CompletedProcess (stdout+stderr in .output)."""
        result = subprocess.run([*pyinfra_command(), "-y", "inventory/lab.py", "deploy.py", *args],
                                cwd=REPO, capture_output=True, text=True, timeout=timeout)
        result.output = result.stdout + result.stderr
        return result

    def deploy_with_fault(self, marker, fault, *args, timeout=900):
        """Run the deploy; when an output line contains ``marker``, call ``fault(process)``
        once. Returns the CompletedProcess-like result (``.output``, ``.returncode``) and
        whether the fault fired."""
        process = subprocess.Popen([*pyinfra_command(), "-y", "inventory/lab.py", "deploy.py", *args],
                                   cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        lines, fired = [], False
        for line in process.stdout:
            lines.append(line)
            if not fired and marker in line:
                fault(process)
                fired = True
        process.wait(timeout=timeout)
        result = subprocess.CompletedProcess(process.args, process.returncode, "".join(lines), "")
        result.output = result.stdout
        return result, fired

    def ssh(self, name, command, check=True):
        entry = self.entry(name)
        result = subprocess.run(
            ["ssh", "-i", self.state["ssh_key"], "-p", str(entry["ssh_port"]),
             "-o", f"UserKnownHostsFile={self.state['known_hosts']}",
             "-o", "StrictHostKeyChecking=accept-new", "-o", "BatchMode=yes",
             f"root@{entry['address']}", command],
            capture_output=True, text=True, timeout=120)
        if check and result.returncode != 0:
            raise AssertionError(f"ssh {name} {command!r} failed: {result.stderr}")
        return result.stdout

    def container(self, name):
        """``docker inspect`` of the FunASR container on lab host ``name``."""
        return json.loads(self.ssh(name, "docker inspect funasr-funasr-1"))[0]

    def docker_started(self, name):
        """When the host's dockerd last started (CLOCK_MONOTONIC, which the lab's hosts share)."""
        return int(self.ssh(name, "systemctl show -p ActiveEnterTimestampMonotonic --value docker.service"))

    def reboot(self, name):
        """Restart the host's container, as a reboot would: every process stops, systemd
        boots it again (its disk and Docker's data kept). Docker publishes the container's
        ports anew, so the lab's state is read again (`lab up` keeps running hosts)."""
        from funasr_fleet.lab.state import load_state

        subprocess.run(["docker", "restart", self.entry(name)["container"]], check=True, timeout=300,
                       capture_output=True)
        subprocess.run([sys.executable, "-m", "funasr_fleet.lab", "up", "--hosts", str(LAB_HOSTS),
                        "--lb-hosts", str(LAB_BALANCERS)], cwd=REPO, check=True, timeout=600,
                       capture_output=True)
        self.state = load_state()

    def set_host_data(self, data):
        """Per-host data overrides that inventory/lab.py reads ({} removes them)."""
        if data:
            self.host_data_file.write_text(json.dumps(data, ensure_ascii=False))
        else:
            self.host_data_file.unlink(missing_ok=True)

    def is_gpu(self, name):
        """A SIMULATED GPU host (group gpu: the offline GPU server)."""
        return "gpu" in self.entry(name)["groups"]

    def probe(self, name):
        port = self.entry(name)["service_ports"]["10095"]
        mode = "offline" if self.is_gpu(name) else "2pass"
        result = subprocess.run([sys.executable, "-m", "funasr_fleet", "probe",
                                 f"ws://127.0.0.1:{port}", "--mode", mode, "--json"],
                                cwd=REPO, capture_output=True, text=True, timeout=120)
        return result.returncode, json.loads(result.stdout)


def grand_total(output):
    """(hosts, changed, errors, unchanged) from pyinfra's results table."""
    match = re.search(r"Grand total\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)", output)
    assert match, f"no results table in pyinfra output:\n{output[-3000:]}"
    return tuple(0 if value == "-" else int(value) for value in match.groups())


@pytest.fixture(scope="session")
def lab():
    # FUNASR_LAB_REUSE=1 keeps a running lab as it is (make prove-faults runs one test at
    # a time on one lab); otherwise every session starts from fresh hosts.
    fresh = [] if os.environ.get("FUNASR_LAB_REUSE") else ["--fresh"]
    subprocess.run([sys.executable, "-m", "funasr_fleet.lab", "up", "--hosts", str(LAB_HOSTS),
                    "--lb-hosts", str(LAB_BALANCERS), *fresh], cwd=REPO, check=True, timeout=1800)
    from funasr_fleet.lab.state import load_state

    lab = Lab(load_state())
    lab.set_host_data({})
    yield lab
    lab.set_host_data({})
    if not os.environ.get("FUNASR_LAB_KEEP"):
        subprocess.run([sys.executable, "-m", "funasr_fleet.lab", "down"], cwd=REPO, timeout=600)
