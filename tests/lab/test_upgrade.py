"""
Staged upgrades on the lab (lab-1..3 CPU, lab-4 simulated GPU), after the other lab tests.

Waves with the defaults (canary 1, then 50% of the fleet): [lab-1], [lab-2, lab-3], [lab-4].
The CPU hosts move 0.1.10 (v1) -> 0.1.11 (v2) -> 0.1.12 (v3, first a stand-in built to
fail its probe, then fixed); lab-4 stays on its GPU release throughout.
"""

import json
import subprocess
import sys

import pytest

from conftest import PYINFRA, REPO
from funasr_fleet.lab import images
from funasr_fleet.lab.aptconf import debian_mirror

pytestmark = pytest.mark.lab

V1, V2, V3 = "0.1.10", "0.1.11", "0.1.12"
TAG = "funasr-runtime-sdk-online-cpu-{}"
# Short gates so the failing release is given up on quickly.
FAST_GATE = {"funasr_start_timeout": 20, "funasr_probe_timeout": 5}


def cpu_hosts(lab):
    return [name for name in lab.hosts if not lab.is_gpu(name)]


def set_version(lab, version):
    lab.set_host_data({name: {"funasr_version": version, **FAST_GATE} for name in cpu_hosts(lab)})


def record(lab, name):
    return json.loads(lab.ssh(name, "cat /opt/funasr/release.json"))


def running(lab, name):
    container = lab.container(name)
    return container["Config"]["Image"].rsplit(":", 1)[1], container["State"]["StartedAt"]


@pytest.fixture(scope="module")
def upgrade_lab(lab):
    yield lab
    lab.set_host_data({})
    standin = lab.state["images"]["standin"]
    subprocess.run(["docker", "rmi", f"{standin}:{TAG.format(V3)}"], capture_output=True)
    assert lab.deploy().returncode == 0  # back to the lab's default release


def test_v1_to_v2_the_canary_is_upgraded_and_probed_before_any_other_host_changes(upgrade_lab):
    lab = upgrade_lab
    set_version(lab, V1)
    first = lab.deploy()
    assert first.returncode == 0, first.output[-3000:]
    set_version(lab, V2)
    result = lab.deploy()
    assert result.returncode == 0, result.output[-3000:]
    canary, *others = cpu_hosts(lab)
    records = {name: record(lab, name) for name in cpu_hosts(lab)}
    for name, rec in records.items():
        assert rec["current"]["version"] == V2 and rec["previous"]["version"] == V1
        assert running(lab, name)[0] == TAG.format(V2)
    # The canary passed its probe before any other host's new container started.
    assert all(records[canary]["current"]["healthy_at"] < records[name]["current"]["started_at"]
               for name in others)
    assert f"[{canary}] plan: 2pass profile" in result.output and "wave 1 of 3" in result.output


def test_v2_to_failing_v3_rolls_the_canary_back_and_stops_then_fixed_v3_completes(upgrade_lab):
    lab = upgrade_lab
    standin = lab.state["images"]["standin"]
    images.build_standin(images.build_base(debian_mirror()), (TAG.format(V3),),
                         env={"FUNASR_STANDIN_FAIL": "1"})  # answers nothing: a broken release
    canary, *others = cpu_hosts(lab)
    before = {name: running(lab, name) for name in others}
    set_version(lab, V3)
    failed = lab.deploy()
    assert failed.returncode != 0
    assert (f"[{canary}] ROLLED BACK: {V3} ({standin}:{TAG.format(V3)}) failed its health probe"
            in failed.output), failed.output[-4000:]
    assert f"restored {V2} ({standin}:{TAG.format(V2)}), healthy again. No further wave starts." \
        in failed.output
    assert running(lab, canary)[0] == TAG.format(V2) and lab.probe(canary)[0] == 0
    assert record(lab, canary)["current"]["version"] == V2
    assert {name: running(lab, name) for name in others} == before  # never left v2
    assert all(lab.probe(name)[0] == 0 for name in others)

    # v3 fixed (a good build under the same tag): re-running completes the upgrade.
    subprocess.run(["docker", "tag", f"{standin}:{TAG.format('0.1.13')}", f"{standin}:{TAG.format(V3)}"],
                   check=True)
    fixed = lab.deploy()
    assert fixed.returncode == 0, fixed.output[-3000:]
    for name in cpu_hosts(lab):
        assert running(lab, name)[0] == TAG.format(V3) and lab.probe(name)[0] == 0
        assert record(lab, name)["current"]["version"] == V3
        assert record(lab, name)["previous"]["version"] == V2


def test_rollback_puts_every_host_back_on_its_previous_release_in_waves(upgrade_lab):
    lab = upgrade_lab
    canary, *others = cpu_hosts(lab)
    result = subprocess.run([PYINFRA, "-y", "inventory/lab.py", "rollback.py",
                             "--limit", "cpu", "--limit", "lb"],
                            cwd=REPO, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    records = {name: record(lab, name) for name in cpu_hosts(lab)}
    for name, rec in records.items():
        assert running(lab, name)[0] == TAG.format(V2) and lab.probe(name)[0] == 0
        assert rec["current"]["version"] == V2 and rec["previous"]["version"] == V3
    assert all(records[canary]["current"]["healthy_at"] < records[name]["current"]["healthy_at"]
               for name in others)
    # --limit cpu (with its balancer) plans its own 3 hosts: canary, then 50% of 3 = one host per wave (over the
    # whole inventory, lab-2 and lab-3 would share a wave)
    assert records[others[0]]["current"]["healthy_at"] < records[others[1]]["current"]["healthy_at"]
    # The status table reads each host's release record over SSH and probes in parallel.
    status = subprocess.run([sys.executable, "-m", "funasr_fleet", "status", "inventory/lab.py", "--json"],
                            cwd=REPO, capture_output=True, text=True, timeout=300)
    rows = {row["host"]: row for row in json.loads(status.stdout)}
    assert status.returncode == 0 and all(row["healthy"] for row in rows.values()), status.stdout
    for name in cpu_hosts(lab):
        assert (rows[name]["version"], rows[name]["previous_version"]) == (V2, V3)
        assert rows[name]["groups"] == ["cpu", "lab"] and len(rows[name]["models"]) == 6  # LM included
