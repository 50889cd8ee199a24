"""
SIMULATED GPU hosts for the lab: no GPU, no NVIDIA driver, no NVIDIA software.

The lab has no GPU and cannot reach NVIDIA's apt repo, so a lab host in the ``gpu`` group
gets stand-ins for exactly what the deploy talks to, each saying what it is:

- ``/usr/local/bin/nvidia-smi``: answers the ``--query-gpu`` CSV query the NvidiaGpus
  fact asks, for two simulated GPUs;
- a signed apt repository in NVIDIA's layout at ``/srv/nvidia-repo-standin`` inside the
  host (``gpgkey``, ``stable/deb/<arch>/`` with ``InRelease``), reached through apt's and
  curl's ``file://`` transport, signed by a key made for this lab; its four packages
  carry NVIDIA's package names and install stand-in binaries:
  ``nvidia-container-runtime-hook`` (a no-op, so docker registers its ``nvidia`` device
  driver and GPU reservations start containers), ``nvidia-container-runtime`` (runs
  runc) and ``nvidia-ctk``.

So the real repo-adding (fingerprint check), install, daemon.json runtime and
restart-on-change code runs; whether a real GPU works is not exercised.
"""

import shutil
import subprocess
import tempfile
from pathlib import Path

from .engine import LabError, docker

REPO_IN_HOST = "/srv/nvidia-repo-standin"
REPO_URL = f"file://{REPO_IN_HOST}"
TOOLKIT_VERSION = "1.17.8-1"
GPUS = [(str(index), "funasr-fleet lab SIMULATED GPU", f"GPU-5a1ab000-0000-4000-8000-00000000000{index}",
         "24576", "550.00-simulated") for index in range(2)]
QUERY_LINES = "\n".join(", ".join(gpu) for gpu in GPUS)

NVIDIA_SMI = f"""#!/bin/sh
# funasr-fleet lab: SIMULATED nvidia-smi. There is no GPU and no NVIDIA driver here.
case "$*" in
  *--query-gpu=index,name,uuid,memory.total,driver_version*) printf '%s\\n' "{QUERY_LINES}" ;;
  *) echo "funasr-fleet lab SIMULATED nvidia-smi: {len(GPUS)} simulated GPUs, no real driver" ;;
esac
"""

# What the GPU stand-in image carries at /usr/bin/nvidia-smi, where NVIDIA's toolkit would
# mount the driver's: it lists the GPUs docker's nvidia driver exposed to the container.
CONTAINER_NVIDIA_SMI = f"""#!/bin/sh
# funasr-fleet lab: SIMULATED nvidia-smi inside a container. There is no GPU here.
devices="${{NVIDIA_VISIBLE_DEVICES:-}}"
case "$devices" in
  ""|void|none) echo "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver."; exit 9 ;;
  all) devices="{','.join(gpu[0] for gpu in GPUS)}" ;;
esac
for index in $(echo "$devices" | tr ',' ' '); do
  echo "GPU $index: funasr-fleet lab SIMULATED GPU (UUID: GPU-5a1ab000-0000-4000-8000-00000000000$index)"
done
"""

STANDIN_NOTE = "# funasr-fleet lab STAND-IN, not NVIDIA's software.\n"
# package -> (depends, {path: script})
PACKAGES = {
    "nvidia-container-toolkit": (
        f"nvidia-container-toolkit-base (= {TOOLKIT_VERSION}), "
        f"libnvidia-container-tools (= {TOOLKIT_VERSION})",
        {"usr/bin/nvidia-container-runtime-hook":
            f"#!/bin/sh\n{STANDIN_NOTE}cat >/dev/null\nexit 0\n"}),
    "nvidia-container-toolkit-base": (
        "",
        {"usr/bin/nvidia-container-runtime": f"#!/bin/sh\n{STANDIN_NOTE}exec runc \"$@\"\n",
         "usr/bin/nvidia-ctk": f"#!/bin/sh\n{STANDIN_NOTE}echo 'nvidia-ctk stand-in "
                               f"{TOOLKIT_VERSION} (funasr-fleet lab)'\n"}),
    "libnvidia-container-tools": (f"libnvidia-container1 (= {TOOLKIT_VERSION})", {}),
    "libnvidia-container1": ("", {}),
}


def host_arch():
    """Debian architecture of this machine (the lab hosts share it)."""
    return subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True,
                          check=True).stdout.strip()


def signing_key(gnupg_home):
    """The lab repo's signing key (made once): return its fingerprint."""
    gnupg_home.mkdir(mode=0o700, parents=True, exist_ok=True)
    gpg = ["gpg", "--homedir", str(gnupg_home), "--batch"]
    listed = subprocess.run([*gpg, "--with-colons", "--list-secret-keys"], capture_output=True, text=True)
    if "fpr:" not in listed.stdout:
        subprocess.run([*gpg, "--passphrase", "", "--quick-gen-key",
                        "funasr-fleet lab NVIDIA repo STAND-IN <lab@funasr-fleet.invalid>",
                        "ed25519", "sign", "never"], check=True, capture_output=True)
        listed = subprocess.run([*gpg, "--with-colons", "--list-secret-keys"],
                                capture_output=True, text=True, check=True)
    return next(line.split(":")[9] for line in listed.stdout.splitlines() if line.startswith("fpr:"))


def build_deb(name, depends, files, arch, out_dir):
    """One stand-in package with NVIDIA's name; returns the .deb path."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / name
        (root / "DEBIAN").mkdir(parents=True)
        control = (f"Package: {name}\nVersion: {TOOLKIT_VERSION}\nArchitecture: {arch}\n"
                   "Maintainer: funasr-fleet lab <lab@funasr-fleet.invalid>\n"
                   + (f"Depends: {depends}\n" if depends else "")
                   + "Description: funasr-fleet lab STAND-IN for NVIDIA's package\n"
                   " Not NVIDIA's software; lets the lab run the real install code.\n")
        (root / "DEBIAN" / "control").write_text(control)
        for path, script in files.items():
            target = root / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(script)
            target.chmod(0o755)
        deb = out_dir / f"{name}_{TOOLKIT_VERSION}_{arch}.deb"
        subprocess.run(["dpkg-deb", "--root-owner-group", "--build", str(root), str(deb)],
                       check=True, capture_output=True)
    return deb


def build_repo(lab_directory):
    """Build the signed stand-in repo under ``<lab>/nvidia-repo-standin``; return its fingerprint."""
    gnupg_home = lab_directory / "gnupg"
    fingerprint = signing_key(gnupg_home)
    arch = host_arch()
    repo = lab_directory / "nvidia-repo-standin"
    shutil.rmtree(repo, ignore_errors=True)
    pool = repo / "stable" / "deb" / arch
    pool.mkdir(parents=True)
    stanzas = []
    for name, (depends, files) in PACKAGES.items():
        deb = build_deb(name, depends, files, arch, pool)
        fields = subprocess.run(["dpkg-deb", "--field", str(deb)], capture_output=True, text=True,
                                check=True).stdout.strip()
        digest = subprocess.run(["sha256sum", str(deb)], capture_output=True, text=True,
                                check=True).stdout.split()[0]
        stanzas.append(f"{fields}\nFilename: ./{deb.name}\nSize: {deb.stat().st_size}\n"
                       f"SHA256: {digest}\n")
    packages = "\n".join(stanzas)
    (pool / "Packages").write_text(packages)
    size = len(packages.encode())
    digest = subprocess.run(["sha256sum", str(pool / "Packages")], capture_output=True, text=True,
                            check=True).stdout.split()[0]
    (pool / "Release").write_text(
        "Origin: funasr-fleet lab NVIDIA repo STAND-IN\nLabel: funasr-fleet-lab\n"
        f"Architectures: {arch}\nSHA256:\n {digest} {size} Packages\n")
    gpg = ["gpg", "--homedir", str(gnupg_home), "--batch", "--yes"]
    subprocess.run([*gpg, "--local-user", fingerprint, "--clearsign", "--output",
                    str(pool / "InRelease"), str(pool / "Release")], check=True, capture_output=True)
    subprocess.run([*gpg, "--armor", "--output", str(repo / "gpgkey"), "--export", fingerprint],
                   check=True, capture_output=True)
    return fingerprint


def install(container, lab_directory):
    """Give lab host ``container`` the simulated nvidia-smi and the stand-in repo."""
    repo = lab_directory / "nvidia-repo-standin"
    if not (repo / "gpgkey").is_file():
        raise LabError(f"{repo} is missing: build_repo first")
    with tempfile.TemporaryDirectory() as tmp:
        smi = Path(tmp) / "nvidia-smi"
        smi.write_text(NVIDIA_SMI)
        smi.chmod(0o755)
        docker("cp", str(smi), f"{container}:/usr/local/bin/nvidia-smi")
    docker("exec", container, "rm", "-rf", REPO_IN_HOST)
    docker("cp", str(repo), f"{container}:{REPO_IN_HOST}")
