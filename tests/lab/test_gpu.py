"""
GPU nodes on the lab (CPU hosts + lab-4 with a SIMULATED GPU), after test_converge.py
converged them twice (the second converge, GPU host included, changed nothing).

The simulated GPU host has a fake nvidia-smi and a signed stand-in of NVIDIA's apt repo
(funasr_fleet/lab/simulated_gpu.py): the real repo, install, daemon.json and restart
code runs against them. No real GPU is exercised.
"""

import json
import subprocess

import pytest

from conftest import PYINFRA, REPO, grand_total

pytestmark = pytest.mark.lab

NVIDIA_PACKAGES = ("nvidia-container-toolkit", "nvidia-container-toolkit-base",
                   "libnvidia-container-tools", "libnvidia-container1")
PACKAGES_QUERY = ("dpkg-query -W -f '${db:Status-Status} ${Package} ${Version}\\n' "
                  + " ".join(NVIDIA_PACKAGES) + " 2>/dev/null || true")


def cpu_and_gpu_hosts(lab):
    gpu = [name for name in lab.hosts if lab.is_gpu(name)]
    cpu = [name for name in lab.hosts if not lab.is_gpu(name)]
    assert len(gpu) == 1 and len(cpu) >= 2
    return cpu, gpu[0]


def container_env(lab, name, container):
    """The environment the container's processes got (docker's nvidia device request adds
    NVIDIA_VISIBLE_DEVICES to the runtime spec, not to the image's config)."""
    return lab.ssh(name, f"docker exec {container} sh -c \"tr '\\\\0' '\\\\n' < /proc/1/environ\"")


def daemon_json(lab, name):
    return json.loads(lab.ssh(name, "cat /etc/docker/daemon.json"))


def test_cpu_hosts_get_the_cpu_image_and_nothing_nvidia(lab):
    cpu, _ = cpu_and_gpu_hosts(lab)
    for name in cpu:
        assert "installed" not in lab.ssh(name, PACKAGES_QUERY)
        assert lab.ssh(name, "ls /etc/apt/sources.list.d/ /etc/apt/keyrings/ 2>/dev/null | "
                             "grep -ci nvidia || true").strip() == "0"
        assert "runtimes" not in daemon_json(lab, name)
        container = lab.container(name)
        assert container["Config"]["Image"].endswith(":funasr-runtime-sdk-online-cpu-0.1.13")
        assert not container["HostConfig"]["DeviceRequests"]


def test_gpu_host_gets_the_toolkit_runtime_and_gpu_reservations(lab):
    _, gpu = cpu_and_gpu_hosts(lab)
    installed = lab.ssh(gpu, PACKAGES_QUERY).split("\n")
    assert sorted(line.split()[1] for line in installed if line.startswith("installed ")) == \
        sorted(NVIDIA_PACKAGES)
    sources = lab.ssh(gpu, "cat /etc/apt/sources.list.d/nvidia-container-toolkit.list")
    assert "[signed-by=/etc/apt/keyrings/nvidia-container-toolkit.asc]" in sources
    keyring = lab.ssh(gpu, "gpg --show-keys --with-colons /etc/apt/keyrings/nvidia-container-toolkit.asc"
                           " | awk -F: '$1 == \"fpr\" {print $10}'")
    assert keyring.split() == [lab.state["gpu"]["key_fingerprint"]]
    assert daemon_json(lab, gpu)["runtimes"] == {"nvidia": {"args": [], "path": "nvidia-container-runtime"}}
    assert "nvidia" in json.loads(lab.ssh(gpu, "docker info --format '{{json .Runtimes}}'"))
    container = lab.container(gpu)
    assert container["Config"]["Image"].endswith(":funasr-runtime-sdk-gpu-0.2.1")
    assert container["Config"]["Cmd"][0] == "./funasr-wss-server"
    requests = container["HostConfig"]["DeviceRequests"]
    assert [(r["Driver"], r["Count"], r["Capabilities"]) for r in requests] == [("nvidia", -1, [["gpu"]])]
    # docker's nvidia device request reached the container, and the GPU build's server
    # (which needs CUDA: paraformer-torch.cpp:36-41) runs on it.
    assert "NVIDIA_VISIBLE_DEVICES=all" in container_env(lab, gpu, "funasr-funasr-1")
    assert "CUDA is available, running on GPU" in lab.ssh(gpu, "docker logs funasr-funasr-1 2>&1")
    code, result = lab.probe(gpu)
    assert code == 0 and result["ok"], result


def test_gpu_host_without_nvidia_smi_fails_validation_before_any_host_changes(lab):
    _, gpu = cpu_and_gpu_hosts(lab)
    state = {name: (lab.container(name)["State"]["StartedAt"],
                    lab.ssh(name, "sha256sum /opt/funasr/compose.yaml /opt/funasr/hotwords.txt"))
             for name in lab.hosts}
    lab.ssh(gpu, "mv /usr/local/bin/nvidia-smi /root/nvidia-smi.away")
    # A change on a CPU host that would be made if validation let the run go on.
    lab.set_host_data({lab.hosts[0]: {"funasr_hotwords": {"新热词": 30}}})
    try:
        result = lab.deploy()
    finally:
        lab.set_host_data({})
        lab.ssh(gpu, "mv /root/nvidia-smi.away /usr/local/bin/nvidia-smi")
    assert result.returncode != 0
    assert (f"{gpu}: funasr_profile = 'offline-gpu' needs a working NVIDIA driver, but "
            "nvidia-smi not found") in result.output
    assert "does not install drivers" in result.output
    assert "Beginning operation run" not in result.output
    assert {name: (lab.container(name)["State"]["StartedAt"],
                   lab.ssh(name, "sha256sum /opt/funasr/compose.yaml /opt/funasr/hotwords.txt"))
            for name in lab.hosts} == state


def test_unlisted_gpu_tag_is_refused_without_the_allow_flag_and_accepted_with_it(lab):
    _, gpu = cpu_and_gpu_hosts(lab)
    unlisted = "funasr-runtime-sdk-online-gpu-0.1.12"  # circulates in third-party guides only
    image = f"{lab.state['images']['standin']}:{unlisted}"
    subprocess.run(["docker", "tag", f"{lab.state['images']['standin']}:funasr-runtime-sdk-gpu-0.2.1",
                    image], check=True)  # as an operator who mirrored that tag would have it
    try:
        lab.set_host_data({gpu: {"funasr_image_tag": unlisted}})
        refused = lab.deploy("--dry")
        lab.set_host_data({gpu: {"funasr_image_tag": unlisted, "funasr_allow_unlisted_tag": True}})
        accepted = subprocess.run([PYINFRA, "-y", "--dry", "inventory/lab.py", "deploy.py"], cwd=REPO,
                                  capture_output=True, text=True, timeout=600)
    finally:
        lab.set_host_data({})
        subprocess.run(["docker", "rmi", image], capture_output=True)
    assert refused.returncode != 0
    assert f"funasr_image_tag = '{unlisted}'" in refused.output
    assert "not a known offline-gpu image" in refused.output and "funasr_allow_unlisted_tag" in refused.output
    assert accepted.returncode == 0, accepted.stdout[-3000:] + accepted.stderr[-3000:]
    assert f"[{gpu}] plan: offline-gpu profile, image {image}" in accepted.stdout + accepted.stderr


def test_one_server_per_gpu_each_pinned_and_probed_then_back_to_one(lab):
    _, gpu = cpu_and_gpu_hosts(lab)
    lab.set_host_data({gpu: {"funasr_instance_per_gpu": True, "funasr_gpus": 2}})
    try:
        result = lab.deploy()
        containers = json.loads(lab.ssh(gpu, "docker inspect $(docker ps -q --filter "
                                             "label=com.docker.compose.project=funasr)"))
        again = lab.deploy()
    finally:
        lab.set_host_data({})
    assert result.returncode == 0, result.output[-3000:]
    by_service = {c["Config"]["Labels"]["com.docker.compose.service"]: c for c in containers}
    assert sorted(by_service) == ["funasr-gpu0", "funasr-gpu1"]
    for index, name in enumerate(("funasr-gpu0", "funasr-gpu1")):
        container = by_service[name]
        assert container["HostConfig"]["DeviceRequests"][0]["DeviceIDs"] == [str(index)]
        assert container["HostConfig"]["PortBindings"]["10095/tcp"][0]["HostPort"] == str(10095 + index)
        assert f"NVIDIA_VISIBLE_DEVICES={index}" in container_env(lab, gpu, container["Name"][1:])
        port = lab.entry(gpu)["service_ports"][str(10095 + index)]
        assert f"[{gpu}] FunASR healthy at ws://127.0.0.1:{port}" in result.output
    assert again.returncode == 0 and grand_total(again.output)[1] == 0, again.output[-3000:]
    back = lab.deploy()  # one server for all GPUs again; the per-GPU containers are removed
    assert back.returncode == 0, back.output[-3000:]
    services = lab.ssh(gpu, "docker ps --filter label=com.docker.compose.project=funasr "
                            "--format '{{.Label \"com.docker.compose.service\"}}'").split()
    assert services == ["funasr"]
