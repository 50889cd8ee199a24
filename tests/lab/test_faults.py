"""
Faults on the lab (lab-1..3 CPU, lab-4 simulated GPU, lab-5 load balancer): a host
unreachable at the start, SSH cut mid-run, the docker daemon restarted, the server
container killed or removed, the control node interrupted (Ctrl-C). After each: the other
hosts keep serving, nothing is lost (models, hotwords, release records), and re-running
the same command converges. The disk-full faults are in test_models.py (models) and here
(image load).
"""

import json
import re
import signal
import subprocess
import time

import pytest

from conftest import grand_total

pytestmark = pytest.mark.lab

MANIFESTS = "find /opt/funasr/models -name .funasr-fleet-manifest.json | sort | xargs sha256sum"
NEW_HOTWORDS = {"故障演练": 30}


def kept(lab, name):
    """What must never be lost on a host: its models' manifests, hotwords and release record."""
    return {"models": lab.ssh(name, MANIFESTS),
            "hotwords": lab.ssh(name, "cat /opt/funasr/hotwords.txt"),
            "release": json.loads(lab.ssh(name, "cat /opt/funasr/release.json"))}


def wait_healthy(lab, name, timeout=90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if lab.probe(name)[0] == 0:
            return True
        time.sleep(2)
    return False


def converges_again(lab):
    """Re-run: success; then a third run changes nothing; every server answers."""
    rerun = lab.deploy()
    assert rerun.returncode == 0, rerun.output[-4000:]
    again = lab.deploy()
    assert again.returncode == 0 and grand_total(again.output)[1] == 0, again.output[-4000:]
    assert all(lab.probe(name)[0] == 0 for name in lab.hosts)


@pytest.fixture
def faults_lab(lab):
    lab.set_host_data({})
    assert lab.deploy().returncode == 0  # converged (a no-op after the converge tests)
    yield lab
    lab.set_host_data({})
    assert lab.deploy().returncode == 0


def test_a_host_unreachable_at_the_start_does_not_stop_the_others(faults_lab):
    lab = faults_lab
    down = lab.hosts[2]
    before = kept(lab, down)
    lab.set_host_data({name: {"funasr_hotwords": NEW_HOTWORDS} for name in lab.hosts})
    container = lab.entry(down)["container"]
    subprocess.run(["docker", "exec", container, "systemctl", "stop", "ssh"], check=True)
    try:
        result = lab.deploy()
    finally:
        subprocess.run(["docker", "exec", container, "systemctl", "start", "ssh"], check=True)
    assert result.returncode != 0  # the run says a host was missed
    # pyinfra's connect error for that host (through the lab's port proxy, sshd's absence
    # shows as a closed connection: "SSH error"; on a real network "Could not connect")
    assert re.search(rf"^\s*\[{down}\] (Could not connect|SSH error|EOF error) \(", result.output,
                     re.MULTILINE), result.output[-4000:]
    assert f"[{down}] Connected" not in result.output
    for name in lab.hosts:
        if name != down:  # every reachable host converged, wave by wave, and passed its gate
            assert "故障演练" in lab.ssh(name, "cat /opt/funasr/hotwords.txt"), name
    assert kept(lab, down) == before and lab.probe(down)[0] == 0  # untouched, still serving
    converges_again(lab)
    assert "故障演练" in lab.ssh(down, "cat /opt/funasr/hotwords.txt")


def test_ssh_cut_mid_run_stops_the_rollout_and_loses_nothing(faults_lab):
    lab = faults_lab
    cut = lab.hosts[1]  # in wave 2: cut while the canary's wave runs
    before = {name: kept(lab, name) for name in lab.hosts}
    lab.set_host_data({name: {"funasr_hotwords": NEW_HOTWORDS} for name in lab.hosts})
    container = lab.entry(cut)["container"]

    def cut_ssh(_):
        subprocess.run(["docker", "exec", container, "pkill", "-KILL", "-f", "sshd-session|sshd: root@"])

    result, fired = lab.deploy_with_fault("Wave 1/3: FunASR configuration files", cut_ssh)
    assert fired and result.returncode != 0, result.output[-4000:]
    # the cut host failed, and the hosts of the later waves say why they did not change
    for name in lab.hosts[2:]:
        assert f"[{name}] not changed: the rollout stopped after {cut} failed" in result.output, \
            result.output[-4000:]
    for name in lab.hosts:
        now = kept(lab, name)
        assert now["models"] == before[name]["models"]
        assert now["release"]["current"]["healthy_at"]  # a complete, healthy record
        if name != lab.hosts[0]:  # only the canary changed; the rollout stopped after the cut
            assert now == before[name], name
        assert lab.probe(name)[0] == 0, name
    converges_again(lab)
    assert all("故障演练" in lab.ssh(name, "cat /opt/funasr/hotwords.txt") for name in lab.hosts)


def test_the_server_keeps_running_through_a_docker_restart(faults_lab):
    """live-restore (docker_live_restore, on by default): dockerd restarts, the server's
    container does not (same start time, no restart counted) and answers again."""
    lab = faults_lab
    name = lab.hosts[0]
    before = kept(lab, name)
    container = lab.container(name)
    lab.ssh(name, "systemctl restart docker")
    assert wait_healthy(lab, name), "the server did not answer again after the docker restart"
    after = lab.container(name)
    assert (after["State"]["StartedAt"], after["RestartCount"]) == \
        (container["State"]["StartedAt"], container["RestartCount"])
    assert all(lab.probe(other)[0] == 0 for other in lab.hosts if other != name)
    result = lab.deploy()
    assert result.returncode == 0 and grand_total(result.output)[1] == 0, result.output[-4000:]
    assert kept(lab, name) == before


def test_a_crashed_server_is_restarted_by_docker_and_a_removed_one_by_the_converge(faults_lab):
    lab = faults_lab
    name = lab.hosts[0]
    before = kept(lab, name)
    restarts = lab.container(name)["RestartCount"]
    lab.ssh(name, "kill -KILL $(docker inspect -f '{{.State.Pid}}' funasr-funasr-1)")
    assert wait_healthy(lab, name), "docker did not restart the crashed server"
    assert lab.container(name)["RestartCount"] == restarts + 1

    lab.ssh(name, "docker rm -f funasr-funasr-1")
    assert lab.probe(name)[0] != 0
    result = lab.deploy()
    assert result.returncode == 0, result.output[-4000:]
    _, changed, _, _ = grand_total(result.output)
    assert changed > 0 and lab.probe(name)[0] == 0
    assert kept(lab, name) == before  # same release: the record is not rewritten
    assert all(lab.probe(other)[0] == 0 for other in lab.hosts)


def test_ctrl_c_mid_rollout_then_rerun_completes(faults_lab):
    lab = faults_lab
    before = {name: kept(lab, name) for name in lab.hosts}
    lab.set_host_data({name: {"funasr_hotwords": NEW_HOTWORDS} for name in lab.hosts})

    def interrupt(process):
        process.send_signal(signal.SIGINT)

    result, fired = lab.deploy_with_fault("Wave 2/3: FunASR configuration files", interrupt)
    # pyinfra stops between operations (and exits 0 after "Exiting upon user request!").
    assert fired and "Exiting upon user request!" in result.output, result.output[-4000:]
    for name in lab.hosts:
        now = kept(lab, name)
        assert now["models"] == before[name]["models"]
        assert now["release"]["current"]["healthy_at"]
    # wave 1 (the canary) finished: new hotwords, healthy; wave 3 was never reached:
    # untouched and serving; wave 2 was interrupted between two operations: each of its
    # hosts either kept everything or has the new files and still serves
    canary, last = lab.hosts[0], lab.hosts[-1]
    assert "故障演练" in kept(lab, canary)["hotwords"] and lab.probe(canary)[0] == 0
    assert kept(lab, last) == before[last] and lab.probe(last)[0] == 0
    for name in lab.hosts[1:-1]:
        now = kept(lab, name)
        assert now == before[name] or "故障演练" in now["hotwords"], name
    balancer_config = "cat /etc/nginx/modules-enabled/90-funasr-fleet-stream.conf"
    assert " down;" in lab.ssh(lab.balancers[0], balancer_config)  # wave 2 was drained, then Ctrl-C
    converges_again(lab)
    assert all("故障演练" in lab.ssh(name, "cat /opt/funasr/hotwords.txt") for name in lab.hosts)
    assert " down;" not in lab.ssh(lab.balancers[0], balancer_config)  # the re-run put them back


def test_a_full_disk_while_loading_the_image_stops_the_rollout_and_keeps_every_server(faults_lab):
    from funasr_fleet.lab import images
    from funasr_fleet.lab.aptconf import debian_mirror

    lab = faults_lab
    version, full = "0.1.12", lab.hosts[1]
    tag = f"funasr-runtime-sdk-online-cpu-{version}"
    standin = lab.state["images"]["standin"]
    # A new build (new image ID) under the next tag: each host must load it.
    images.build_standin(images.build_base(debian_mirror()), (tag,), env={"FUNASR_STANDIN_BUILD": "disk-full"})
    cpu = [name for name in lab.hosts if not lab.is_gpu(name)]
    before = {name: kept(lab, name) for name in lab.hosts}
    running = {name: lab.container(name)["Config"]["Image"] for name in lab.hosts}
    # docker load unpacks into the daemon's tmp dir: a tiny filesystem there fills up.
    lab.ssh(full, "mount -t tmpfs -o size=16m funasr-lab-full /var/lib/docker/tmp")
    lab.set_host_data({name: {"funasr_version": version} for name in cpu})
    try:
        result = lab.deploy()
    finally:
        lab.ssh(full, "umount /var/lib/docker/tmp")
    try:
        assert result.returncode != 0
        assert f"[{full}] docker load of" in result.output and "no space left on device" in result.output, \
            "\n".join(line for line in result.output.splitlines() if full in line)
        # Staging failed, so no wave changed any host: every server runs what it ran.
        for name in lab.hosts:
            assert kept(lab, name) == before[name] and lab.container(name)["Config"]["Image"] == running[name]
            assert lab.probe(name)[0] == 0
        converges_again(lab)
        assert all(lab.container(name)["Config"]["Image"] == f"{standin}:{tag}" for name in cpu)
    finally:
        lab.set_host_data({})
        assert lab.deploy().returncode == 0
        subprocess.run(["docker", "rmi", f"{standin}:{tag}"], capture_output=True)


def test_a_server_that_exits_at_start_fails_its_gate_with_its_own_log_line(faults_lab):
    """A release whose LM directory lacks TLG.fst (another repository put in the lm role):
    FunASR exits 255 at start, docker restarts it, the gate fails, the canary is rolled
    back, and the failure lines carry FunASR's own words and the restart count."""
    lab = faults_lab
    canary = lab.hosts[0]
    vad = {"id": "iic/speech_fsmn_vad_zh-cn-16k-common-onnx", "revision": "v2.0.4"}
    lab.set_host_data({canary: {"funasr_models": {"2pass": {"lm": vad}}, "funasr_start_timeout": 15}})
    try:
        result = lab.deploy()
    finally:
        lab.set_host_data({})
    assert result.returncode != 0
    said = f"/workspace/models/{vad['id']}@{vad['revision']}/TLG.fst do not exists."
    rolled = [line for line in result.output.splitlines() if f"[{canary}] ROLLED BACK: " in line]
    assert len(rolled) == 1 and said in rolled[0], result.output[-4000:]
    assert re.search(r"server: funasr-funasr-1 restarts \d+, ", rolled[0]), rolled[0]
    assert any(said in line for line in result.output.splitlines() if f"[{canary}] FunASR " in line
               and " unhealthy at " in line)
    assert lab.probe(canary)[0] == 0  # back on the release it ran
