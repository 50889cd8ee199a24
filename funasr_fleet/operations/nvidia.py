"""Manage what GPU servers need: GPUs visible in a container, the TorchScript export copy."""

from pyinfra import host
from pyinfra.api import FunctionCommand, StringCommand, operation
from pyinfra.api.command import QuoteString

from ..facts.batch import read, reads
from ..facts.nvidia import EXPORT_MARKER, GpuExportState, GpusInContainer
from ..models import MANIFEST


@operation()
def gpus_visible(image, gpus, expected):
    """
    Check that containers get the GPUs: ``nvidia-smi -L`` in a container started with them.

    + image: an image already on the host (no pull), e.g. the FunASR GPU image
    + gpus: the ``docker run --gpus`` value, e.g. ``all``, ``2`` or ``"device=0,1"``
    + expected: how many GPUs it must list

    A check, run in the execution phase: no change when the GPUs are there; otherwise the
    host fails with what nvidia-smi said.

    **Example:**

    .. code:: python

        gpus_visible(image="funasr_repo/funasr:funasr-runtime-sdk-gpu-0.2.1", gpus="all", expected=2)
    """
    if not host.state.is_executing:
        return
    seen = host.get_fact(GpusInContainer, image=image, gpus=gpus)
    if seen["ok"] and len(seen["gpus"]) == expected:
        host.log(f"{expected} GPU(s) visible in a container: {'; '.join(seen['gpus'])}")
        return
    yield FunctionCommand(_gpus_missing, (gpus, expected, seen), {})


def _gpus_missing(state, host, gpus, expected, seen):
    """FunctionCommand body: fail the host with what nvidia-smi said in the container."""
    host.log_styled(f"docker run --gpus {gpus}: nvidia-smi -L in a container listed "
                    f"{len(seen['gpus'])} GPU(s), expected {expected}: {seen['output']}; check the "
                    "NVIDIA Container Toolkit and docker's nvidia runtime", fg="red")
    return False


@reads(lambda export, image, **_: [(GpuExportState, {"path": export.directory, "image": image})])
@operation()
def gpu_export_copied(export, image):
    """
    Make the writable copy of a ``-pytorch`` ASR revision the GPU server exports into.

    + export: the host's `funasr_fleet.render.GpuExport`
    + image: the image reference the copy is for (its ID is written into the copy's marker)

    The copy is made once per key (model revision, ``--bladedisc``, image) and kept, so
    the export the server's first start writes into it (minutes, on a GPU) is reused
    across restarts and rollbacks (a change of this operation therefore means the next
    start exports: the health gate allows for that); the seeded revision itself stays read-only and
    untouched. A copy whose marker names another image ID than the one the reference
    has now (a re-tagged image) is made again. Copied under a temporary name with
    ``cp --reflink=auto`` and renamed, so an interrupted run leaves no half copy in use.

    **Example:**

    .. code:: python

        gpu_export_copied(export=gpu_export(settings), image=settings.image)
    """
    state = read(GpuExportState, path=export.directory, image=image)
    if state["made_for"] and state["made_for"] == state["image_id"]:
        host.noop(f"GPU export copy {export.key} is up to date")
        return
    target, temporary = QuoteString(export.directory), QuoteString(f"{export.directory}.tmp")
    yield StringCommand(
        "rm", "-rf", temporary, "&&", "mkdir", "-p", QuoteString(export.directory.rsplit("/", 1)[0]),
        "&&", "cp", "-a", "--reflink=auto", QuoteString(export.source), temporary,
        "&&", "rm", "-f", QuoteString(f"{export.directory}.tmp/{MANIFEST}"),
        "&&", "docker", "image", "inspect", "--format", "'{{.Id}}'", QuoteString(image),
        ">", QuoteString(f"{export.directory}.tmp/{EXPORT_MARKER}"),
        "&&", "rm", "-rf", target, "&&", "mv", temporary, target)
