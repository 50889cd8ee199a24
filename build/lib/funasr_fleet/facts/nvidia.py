"""Read NVIDIA GPUs: on the host, in a container, and the GPU server's export copy."""

import shlex

from pyinfra.api import FactBase


class NvidiaGpus(FactBase):
    """
    The host's NVIDIA GPUs as nvidia-smi reports them, or why it could not.

    Returns ``{"ok": bool, "error": str, "gpus": [{"index", "name", "uuid",
    "memory_mib", "driver"}]}``: ``ok`` is False when nvidia-smi is missing, fails (no
    driver loaded, driver/library mismatch) or lists no GPU, and ``error`` says which.

    .. code:: python

        host.get_fact(NvidiaGpus)
    """

    QUERY = "index,name,uuid,memory.total,driver_version"

    def command(self):
        return ("if ! command -v nvidia-smi >/dev/null; then echo 'error=nvidia-smi not found'; "
                f"else out=$(nvidia-smi --query-gpu={self.QUERY} --format=csv,noheader,nounits 2>&1) "
                "|| { echo \"error=nvidia-smi failed: $(echo \"$out\" | head -n 1)\"; exit 0; }; "
                "echo \"$out\" | sed 's/^/gpu=/'; fi")

    def process(self, output):
        gpus, error = [], ""
        for line in output:
            kind, _, value = line.partition("=")
            if kind == "error":
                error = value.strip()
            elif kind == "gpu":
                fields = [field.strip() for field in value.split(",")]
                if len(fields) != 5:
                    error = f"unexpected nvidia-smi output: {value.strip()!r}"
                    continue
                index, name, uuid, memory, driver = fields
                gpus.append({"index": index, "name": name, "uuid": uuid,
                             "memory_mib": int(memory) if memory.isdigit() else None,
                             "driver": driver})
        if not gpus and not error:
            error = "nvidia-smi lists no GPU"
        return {"ok": not error, "error": error, "gpus": gpus}

    def default(self):
        return {"ok": False, "error": "nvidia-smi gave no output", "gpus": []}


class GpusInContainer(FactBase):
    """
    What ``nvidia-smi -L`` lists inside a throwaway container given GPUs (``docker run
    --gpus``) from an image already on the host: ``{"ok": bool, "gpus": [lines], "output": str}``.

    .. code:: python

        host.get_fact(GpusInContainer, image="funasr_repo/funasr:funasr-runtime-sdk-gpu-0.2.1",
                      gpus="all")
    """

    def requires_command(self, image, gpus):
        return "docker"

    def command(self, image, gpus):
        return (f"docker run --rm --gpus {shlex.quote(gpus)} --entrypoint nvidia-smi "
                f"{shlex.quote(image)} -L 2>&1; echo \"rc=$?\"")

    def process(self, output):
        lines = [line for line in output if not line.startswith("rc=")]
        ok = any(line.strip() == "rc=0" for line in output)
        return {"ok": ok, "gpus": [line for line in lines if line.startswith("GPU ")],
                "output": " ".join(lines)[-300:]}

    def default(self):
        return {"ok": False, "gpus": [], "output": "no output"}


# The marker file of a GPU export copy (render.GpuExport): the image ID it was made for.
EXPORT_MARKER = ".funasr-fleet-export"


class GpuExportState(FactBase):
    """
    A GPU export copy (`funasr_fleet.render.GpuExport`): the image ID its marker names
    (None: no copy, or an unfinished one) and the ID ``image`` has on the host now (None:
    not there), in one command.

    .. code:: python

        host.get_fact(GpuExportState, path="/opt/funasr/exports/iic/x@v2.0.5+blade-0123abcd4567",
                      image="registry/funasr:funasr-runtime-sdk-gpu-0.2.1")
        # {"made_for": "sha256:...", "image_id": "sha256:..."}
    """

    def command(self, path, image):
        return (f"printf 'made_for=%s\\n' \"$(cat {shlex.quote(path)}/{EXPORT_MARKER} 2>/dev/null)\"; "
                "printf 'image_id=%s\\n' \"$(docker image inspect --format '{{.Id}}' "
                f"{shlex.quote(image)} 2>/dev/null)\"")

    def process(self, output):
        facts = self.default()
        for line in output:
            key, _, value = line.partition("=")
            if key in facts:
                facts[key] = value.strip() or None
        return facts

    def default(self):
        return {"made_for": None, "image_id": None}
