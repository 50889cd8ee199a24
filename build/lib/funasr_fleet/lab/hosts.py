"""
The lab's hosts: systemd containers on the local engine, reached by SSH on 127.0.0.1.

They run with every capability but CAP_SYS_RESOURCE named explicitly (`--privileged`
fails on these VMs), unconfined seccomp/AppArmor/system paths (nested containers need
them), the host's cgroup tree, and a volume for /var/lib/docker so the nested Docker
engine the deploy installs can use overlay2. See ../shared/docs/local-lab-notes.md.
"""

import json
import socket
import subprocess
import time

from .engine import LabError, docker

NETWORK = "funasr-lab"
LABEL = "io.funasr-fleet.lab"
SERVICE_PORTS = (10095, 10096, 10097, 10098, 10099)
# Every capability Docker 20.10 knows, except SYS_RESOURCE (this VM does not grant it).
CAPABILITIES = (
    "AUDIT_CONTROL", "AUDIT_READ", "AUDIT_WRITE", "BLOCK_SUSPEND", "CHOWN", "DAC_OVERRIDE",
    "DAC_READ_SEARCH", "FOWNER", "FSETID", "IPC_LOCK", "IPC_OWNER", "KILL", "LEASE",
    "LINUX_IMMUTABLE", "MAC_ADMIN", "MAC_OVERRIDE", "MKNOD", "NET_ADMIN", "NET_BIND_SERVICE",
    "NET_BROADCAST", "NET_RAW", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_ADMIN",
    "SYS_BOOT", "SYS_CHROOT", "SYS_MODULE", "SYS_NICE", "SYS_PACCT", "SYS_PTRACE",
    "SYS_RAWIO", "SYS_TIME", "SYS_TTY_CONFIG", "SYSLOG", "WAKE_ALARM",
)


def container_name(index):
    return f"funasr-lab-{index}"


def host_name(index):
    return f"lab-{index}"


def run_flags(index):
    """The ``docker run`` arguments of lab host ``index`` (before the image)."""
    flags = ["--detach", "--name", container_name(index), "--hostname", host_name(index),
             "--network", NETWORK, "--label", f"{LABEL}=host",
             "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
             "--security-opt", "systempaths=unconfined", "--device-cgroup-rule", "a *:* rwm",
             "--cgroupns=host", "--volume", "/sys/fs/cgroup:/sys/fs/cgroup:rw",
             "--tmpfs", "/run", "--tmpfs", "/run/lock",
             "--volume", f"{container_name(index)}-docker:/var/lib/docker",
             "--publish", "127.0.0.1::22"]
    flags += [arg for port in SERVICE_PORTS for arg in ("--publish", f"127.0.0.1::{port}")]
    flags += [arg for cap in CAPABILITIES for arg in ("--cap-add", cap)]
    return flags


def existing_hosts():
    """``{container name: running?}`` of the lab's host containers."""
    output = docker("ps", "-a", "--filter", f"label={LABEL}=host", "--format", "{{.Names}}\t{{.State}}")
    return {name: state == "running"
            for name, state in (line.split("\t") for line in output.splitlines() if line)}


def ensure_network():
    if not docker("network", "ls", "--quiet", "--filter", f"name=^{NETWORK}$"):
        docker("network", "create", "--label", f"{LABEL}=network", NETWORK)


def start_host(index, image, public_key):
    """Run lab host ``index`` and prepare its SSH (fresh host keys, our key for root)."""
    docker("run", *run_flags(index), image)
    script = ("ssh-keygen -A >/dev/null && install -d -m 700 /root/.ssh && "
              "cat > /root/.ssh/authorized_keys && chmod 600 /root/.ssh/authorized_keys && "
              "systemctl restart ssh")
    deadline = time.monotonic() + 60
    while True:  # until systemd has booted far enough to restart sshd
        result = subprocess.run(["docker", "exec", "-i", container_name(index), "sh", "-c", script],
                                input=public_key, capture_output=True, text=True)
        if result.returncode == 0:
            break
        if time.monotonic() > deadline:
            raise LabError(f"preparing SSH in {container_name(index)} failed: {result.stderr.strip()}")
        time.sleep(0.5)


def published_ports(container):
    """``(ssh port, {service port: published port})`` on 127.0.0.1."""
    ports = json.loads(docker("inspect", "--format", "{{json .NetworkSettings.Ports}}", container))

    def published(port):
        return int(ports[f"{port}/tcp"][0]["HostPort"])

    return published(22), {str(port): published(port) for port in SERVICE_PORTS}


def wait_for_ssh(port, timeout=60):
    """Wait until sshd on 127.0.0.1:``port`` sends its banner."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
                if sock.recv(4).startswith(b"SSH-"):
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise LabError(f"sshd on 127.0.0.1:{port} did not answer within {timeout}s")


def remove_host(container):
    docker("rm", "-f", "--volumes", container, check=False)
    docker("volume", "rm", "-f", f"{container}-docker", check=False)
