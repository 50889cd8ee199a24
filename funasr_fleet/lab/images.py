"""
The lab's images, built locally (no registry is reachable) and cached.

- ``funasr-fleet-lab/base:trixie``: `debootstrap --variant=minbase trixie` from this
  machine's Debian mirror, with python3 and python3-websockets, imported with docker import;
- ``funasr-fleet-lab/host:trixie``: a lab host (systemd, sshd) built from the base;
- ``funasr-fleet-lab/funasr-standin:<real tag>``: the FunASR stand-in, built from the base.

Every image carries a label with the hash of its build inputs; an image whose label
matches is not rebuilt, so a second `lab up` takes seconds.
"""

import hashlib
import shutil
import subprocess
import tempfile
from pathlib import Path

from . import simulated_gpu
from .aptconf import debian_mirror
from .engine import LabError, docker

HERE = Path(__file__).resolve().parent
BASE_IMAGE = "funasr-fleet-lab/base:trixie"
HOST_IMAGE = "funasr-fleet-lab/host:trixie"
STANDIN_REPOSITORY = "funasr-fleet-lab/funasr-standin"
STANDIN_TAGS = ("funasr-runtime-sdk-online-cpu-0.1.13", "funasr-runtime-sdk-cpu-0.4.7",
                # older releases, for staged-upgrade tests (the same stand-in under each tag)
                "funasr-runtime-sdk-online-cpu-0.1.10", "funasr-runtime-sdk-online-cpu-0.1.11")
# The GPU build's stand-in (FUNASR_STANDIN_GPU_BUILD=1): like the real GPU image, `--gpu`
# works only when GPUs reach its container (the TorchScript export and load need CUDA).
STANDIN_GPU_TAGS = ("funasr-runtime-sdk-gpu-0.2.1",)
INPUTS_LABEL = "io.funasr-fleet.lab.inputs"
BASE_PACKAGES = "python3,python3-websockets,ca-certificates"


def inputs_digest(*parts):
    """sha256 of the build inputs (texts or bytes)."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part if isinstance(part, bytes) else str(part).encode())
        digest.update(b"\0")
    return digest.hexdigest()


def image_inputs(image):
    """The inputs label of a local image, or None when the image is absent."""
    result = subprocess.run(["docker", "image", "inspect", "--format",
                             f'{{{{index .Config.Labels "{INPUTS_LABEL}"}}}}', image],
                            capture_output=True, text=True)
    return result.stdout.strip() if result.returncode == 0 else None


def build_base(mirror):
    """debootstrap the base rootfs and import it (about 30 s); skipped when cached."""
    digest = inputs_digest("base", mirror, BASE_PACKAGES)
    if image_inputs(BASE_IMAGE) == digest:
        return digest
    with tempfile.TemporaryDirectory(prefix="funasr-lab-rootfs-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        command = ["debootstrap", "--variant=minbase", f"--include={BASE_PACKAGES}", "trixie",
                   str(rootfs), mirror]
        if not shutil.which("debootstrap"):
            raise LabError("debootstrap is missing: apt-get install debootstrap")
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            raise LabError(f"{' '.join(command)} failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        imported = subprocess.run(["docker", "import", "--change", f"LABEL {INPUTS_LABEL}={digest}",
                                   "--change", 'CMD ["/bin/bash"]', "-", BASE_IMAGE],
                                  stdin=tar.stdout, capture_output=True, text=True)
        tar.stdout.close()
        if tar.wait() != 0 or imported.returncode != 0:
            raise LabError(f"docker import of the base rootfs failed: {imported.stderr.strip()}")
    return digest


def build(image, dockerfile, build_args, base_digest, context=dict, extra_lines=""):
    """``docker build`` images/<dockerfile> as ``image``, unless its inputs are unchanged.

    + image: the tag to build
    + dockerfile: file name under funasr_fleet/lab/images/
    + build_args: ``--build-arg`` values (part of the inputs)
    + base_digest: the base image's inputs digest (part of the inputs)
    + context: callable returning the build context files ``{relative path: bytes}``, called
      only when a build is needed; what it returns must be determined by the other inputs
    + extra_lines: Dockerfile lines appended (part of the inputs)

    Returns True when it built.
    """
    text = (HERE / "images" / dockerfile).read_text() + extra_lines
    digest = inputs_digest(base_digest, text, *sorted(build_args.items()))
    if image_inputs(image) == digest:
        return False
    with tempfile.TemporaryDirectory(prefix="funasr-lab-build-") as directory:
        write_context(directory, context())
        (Path(directory) / "Dockerfile").write_text(text)
        args = [arg for key, value in build_args.items() for arg in ("--build-arg", f"{key}={value}")]
        docker("build", "-q", "-t", image, "--label", f"{INPUTS_LABEL}={digest}", *args, directory,
               timeout=1800)
    return True


def write_context(directory, files):
    """Write the build context files ``{relative path: bytes}`` under ``directory``."""
    for name, content in files.items():
        path = Path(directory) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)


def standin_package():
    """The stand-in package (funasr_fleet/lab/standin: its modules and the launcher
    funasr_standin.py) as build context files ``{"standin/<module>.py": bytes}``; the
    Dockerfile copies the directory and links the launcher to the real binaries' paths."""
    return {f"standin/{path.name}": path.read_bytes()
            for path in sorted((HERE / "standin").glob("*.py"))}


def self_signed_pair():
    """A throwaway self-signed pair like the one the real image ships."""
    with tempfile.TemporaryDirectory() as tmp:
        cert, key = Path(tmp) / "server.crt", Path(tmp) / "server.key"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650",
                        "-subj", "/CN=funasr-standin", "-keyout", str(key), "-out", str(cert)],
                       check=True, capture_output=True)
        return {"server.crt": cert.read_bytes(), "server.key": key.read_bytes()}


def build_standin(base_digest, tags=STANDIN_TAGS, env=None, nvidia_smi=None):
    """Build the FunASR stand-in image and tag it with ``tags`` (real tag names).

    + base_digest: digest of the base image (from `build_base`)
    + tags: tags under funasr-fleet-lab/funasr-standin
    + env: environment baked into the image, e.g. ``{"FUNASR_STANDIN_FAIL": "1"}`` for a
      release built to fail its probe
    + nvidia_smi: script installed as /usr/bin/nvidia-smi (the GPU build's SIMULATED one)

    **Example:**

    .. code:: python

        build_standin(build_base(debian_mirror()), tags=("funasr-runtime-sdk-online-cpu-0.1.14",))
    """
    package = standin_package()
    env_lines = "".join(f"ENV {key}={value}\n" for key, value in sorted((env or {}).items()))
    first = f"{STANDIN_REPOSITORY}:{tags[0]}"
    files = {"nvidia-smi": nvidia_smi.encode()} if nvidia_smi else {}
    copy_lines = ("COPY nvidia-smi /usr/bin/nvidia-smi\nRUN chmod 755 /usr/bin/nvidia-smi\n"
                  if nvidia_smi else "")
    build(first, "standin.Dockerfile", {"BASE": BASE_IMAGE}, base_digest,
          context=lambda: {**package, **files, **self_signed_pair()},
          extra_lines=env_lines + copy_lines
          + f"LABEL io.funasr-fleet.lab.script={inputs_digest(*_flat(package), *files.values())}\n")
    for tag in tags[1:]:
        docker("tag", first, f"{STANDIN_REPOSITORY}:{tag}")


def _flat(files):
    """``{name: bytes}`` as name, content, name, content, ... in name order."""
    return [part for name in sorted(files) for part in (name, files[name])]


def build_all():
    """Base, host and stand-in images; returns the image names."""
    mirror = debian_mirror()
    base_digest = build_base(mirror)
    build(HOST_IMAGE, "host.Dockerfile", {"BASE": BASE_IMAGE, "MIRROR": mirror}, base_digest)
    build_standin(base_digest)
    build_standin(base_digest, STANDIN_GPU_TAGS, env={"FUNASR_STANDIN_GPU_BUILD": "1"},
                  nvidia_smi=simulated_gpu.CONTAINER_NVIDIA_SMI)
    return {"host": HOST_IMAGE, "standin": STANDIN_REPOSITORY}
