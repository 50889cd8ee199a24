"""
The control node's Docker engine: the lab's hosts and images live there.

`ensure_engine` installs Debian's docker.io when dockerd is missing and starts dockerd
in the background when `docker info` fails (this machine has no init system running it).
"""

import os
import shutil
import subprocess
import time

from pyinfra.api.exceptions import PyinfraError


class LabError(PyinfraError):
    """A lab step failed, or the lab is not there; the message says what and how to fix
    it. A pyinfra error, so pyinfra (loading inventory/lab.py) prints it without a traceback."""


def docker(*args, check=True, capture=True, input=None, timeout=600):
    """Run ``docker ARGS`` and return its stdout; `LabError` with stderr when it fails."""
    result = subprocess.run(["docker", *args], capture_output=capture, text=True, input=input,
                            timeout=timeout)
    if check and result.returncode != 0:
        raise LabError(f"docker {' '.join(args)} failed: {(result.stderr or '').strip()}")
    return (result.stdout or "").strip()


def engine_running():
    return subprocess.run(["docker", "info"], capture_output=True).returncode == 0


def ensure_engine(log_dir, timeout=60):
    """Make sure a Docker engine answers; install and start one if needed.

    + log_dir: where dockerd's log goes when this starts it
    + timeout: seconds to wait for the engine's socket
    """
    if engine_running():
        return
    if not shutil.which("dockerd"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for command in (["apt-get", "update", "-q"],
                        ["apt-get", "install", "-y", "-q", "docker.io"]):
            if subprocess.run(command, env=env).returncode != 0:
                raise LabError(f"{' '.join(command)} failed: install docker.io by hand (root needed)")
    log_dir.mkdir(parents=True, exist_ok=True)
    with open(log_dir / "dockerd.log", "ab") as log:
        subprocess.Popen(["dockerd"], stdout=log, stderr=log, start_new_session=True)
    deadline = time.monotonic() + timeout
    while not engine_running():
        if time.monotonic() > deadline:
            raise LabError(f"dockerd did not answer within {timeout}s; see {log_dir / 'dockerd.log'}")
        time.sleep(0.5)
