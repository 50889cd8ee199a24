"""
The local lab (like Molecule's platforms): real SSH hosts for the real deploy; bring it
up, list it, take it down. The commands: `funasr_fleet.cli.lab`.
"""

import json
import shutil
import subprocess
import time

from . import hosts, images, simulated_gpu
from .engine import LabError, docker, engine_running, ensure_engine
from .hub_process import start_hub, stop_hub
from .state import STATE_VERSION, lab_dir, load_state, save_state, state_path


def ssh_key(directory):
    """The lab's SSH key pair (created once) and its known_hosts file (emptied)."""
    key = directory / "id_ed25519"
    if not key.is_file():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "funasr-fleet-lab",
                        "-f", str(key)], check=True)
    return key


def host_groups(count, gpu_count, lb_count=0):
    """``{index: [group]}``: of ``count`` server hosts the last ``gpu_count`` are (simulated)
    GPU hosts; ``lb_count`` load balancer hosts (group lb) follow them."""
    if not 0 <= gpu_count <= count:
        raise LabError(f"--gpu-hosts {gpu_count} must be between 0 and --hosts {count}")
    if lb_count < 0:
        raise LabError(f"--lb-hosts {lb_count} must be 0 or more")
    groups = {index: ["gpu"] if index > count - gpu_count else ["cpu"] for index in range(1, count + 1)}
    groups.update({index: ["lb"] for index in range(count + 1, count + lb_count + 1)})
    return groups


def previous_groups():
    """``{container: groups}`` of the last state, so a host that changes kind is rebuilt."""
    try:
        return {entry["container"]: entry["groups"] for entry in load_state()["hosts"]}
    except (LabError, ValueError, KeyError):
        return {}


def up(count, fresh, gpu_count=1, lb_count=0):
    """Build images, start ``count`` server hosts (the last ``gpu_count`` with a SIMULATED
    GPU) and ``lb_count`` load balancer hosts, keeping running ones unless ``fresh``, and
    write the state."""
    groups = host_groups(count, gpu_count, lb_count)
    directory = lab_dir()
    directory.mkdir(parents=True, exist_ok=True)
    ensure_engine(directory)
    started = time.monotonic()
    names = images.build_all()
    fingerprint = simulated_gpu.build_repo(directory)
    key = ssh_key(directory)
    known_hosts = directory / "known_hosts"
    hosts.ensure_network()
    existing = hosts.existing_hosts()
    before = previous_groups()
    wanted = {hosts.container_name(i): groups[i] for i in groups}
    for container in existing:
        if fresh or container not in wanted or before.get(container) != wanted[container]:
            hosts.remove_host(container)
    if fresh or not existing:
        known_hosts.write_text("")
    if fresh:  # a fresh lab fetches its models from a fresh hub stand-in again
        shutil.rmtree(directory / "models", ignore_errors=True)
        stop_hub(directory, remove_log=True)
    existing = {} if fresh else hosts.existing_hosts()
    public_key = (directory / "id_ed25519.pub").read_text()
    entries = []
    for index in groups:
        container = hosts.container_name(index)
        if container not in existing:
            hosts.start_host(index, names["host"], public_key)
        elif not existing[container]:
            docker("start", container)
        if "gpu" in groups[index]:
            simulated_gpu.install(container, directory)
        ssh_port, service_ports = hosts.published_ports(container)
        entries.append({"name": hosts.host_name(index), "container": container,
                        "address": "127.0.0.1", "ssh_port": ssh_port,
                        "service_ports": service_ports, "groups": groups[index]})
    for entry in entries:
        hosts.wait_for_ssh(entry["ssh_port"])
    known_hosts.touch()
    hub = start_hub(directory)
    save_state({"version": STATE_VERSION, "ssh_key": str(key), "known_hosts": str(known_hosts),
                "network": hosts.NETWORK, "hosts": entries, "images": names, "hub": hub,
                "gpu": {"repo_url": simulated_gpu.REPO_URL, "key_fingerprint": fingerprint}})
    print(f"lab up: {count} server hosts ({gpu_count} with a SIMULATED GPU), {lb_count} load "
          f"balancer{'s' if lb_count != 1 else ''} in "
          f"{time.monotonic() - started:.1f}s; state in {state_path()}")


def status(as_json):
    state = load_state()
    running = hosts.existing_hosts()
    rows = [{**entry, "running": running.get(entry["container"], False),
             "url": f"ws://{entry['address']}:{entry['service_ports']['10095']}"}
            for entry in state["hosts"]]
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    print(f"model hub stand-in: {state['hub']['url']}")
    print(f"{'HOST':8} {'GROUPS':16} {'STATE':8} {'SSH':16} SERVICE")
    for row in rows:
        kind = "gpu (simulated)" if "gpu" in row["groups"] else ",".join(row["groups"])
        print(f"{row['name']:8} {kind:16} {'running' if row['running'] else 'stopped':8} "
              f"127.0.0.1:{row['ssh_port']:<6} {row['url']}")


def down(purge):
    """Remove the hosts, their volumes, the network and the hub; ``purge`` removes the images too."""
    stop_hub(lab_dir())
    if not engine_running():
        return
    for container in hosts.existing_hosts():
        hosts.remove_host(container)
    docker("network", "rm", hosts.NETWORK, check=False)
    state_path().unlink(missing_ok=True)
    if purge:
        for image in docker("images", "--format", "{{.Repository}}:{{.Tag}}",
                            "funasr-fleet-lab/*").splitlines():
            docker("rmi", "-f", image, check=False)
