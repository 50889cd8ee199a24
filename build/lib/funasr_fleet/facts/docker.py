"""Read Docker images and compose projects."""

import json
import shlex

from pyinfra.api import FactBase

from . import MISSING


class DockerImageId(FactBase):
    """
    The ID (``sha256:...``) of a local image reference, or None when absent.

    .. code:: python

        host.get_fact(DockerImageId, image="funasr_repo/funasr:funasr-runtime-sdk-online-cpu-0.1.13")
    """

    def requires_command(self, image):
        return "docker"

    def command(self, image):
        return f"docker image inspect --format '{{{{.Id}}}}' {shlex.quote(image)} 2>/dev/null || true"

    def process(self, output):
        lines = [line.strip() for line in output if line.strip()]
        return lines[0] if lines else MISSING


class ComposeContainers(FactBase):
    """
    The containers of a compose project, with the labels funasr-fleet reads.

    Returns a list of ``{"name", "status", "image_id", "started_at", "restart_count",
    "labels"}`` (``status`` as docker says it: running, exited, restarting, ...).

    .. code:: python

        host.get_fact(ComposeContainers, project="funasr")
    """

    _FORMAT = (
        '{"name": {{json .Name}}, "status": {{json .State.Status}}, "image_id": {{json .Image}}, '
        '"started_at": {{json .State.StartedAt}}, "restart_count": {{json .RestartCount}}, '
        '"labels": {{json .Config.Labels}}}'
    )

    def requires_command(self, project):
        return "docker"

    def command(self, project):
        label = shlex.quote(f"label=com.docker.compose.project={project}")
        return (
            f"ids=$(docker ps -aq --filter {label} 2>/dev/null); "
            f'[ -z "$ids" ] || docker inspect --format {shlex.quote(self._FORMAT)} $ids'
        )

    def process(self, output):
        containers = []
        for line in output:
            container = json.loads(line)
            container["name"] = container["name"].lstrip("/")
            container["labels"] = container["labels"] or {}
            containers.append(container)
        return containers

    def default(self):
        return []


class ComposeProject(ComposeContainers):
    """
    A compose project's containers and the image ID its image reference names now, in
    one command: ``{"containers": [...as ComposeContainers...], "image_id": "sha256:..." or None}``.

    .. code:: python

        host.get_fact(ComposeProject, project="funasr", image="funasr_repo/funasr:TAG")
    """

    def requires_command(self, project, image):
        return "docker"

    def command(self, project, image):
        return (f"{super().command(project)}; echo \"image-id=$(docker image inspect --format "
                f"'{{{{.Id}}}}' {shlex.quote(image)} 2>/dev/null)\"")

    def process(self, output):
        image_id = next((line.partition("=")[2].strip() for line in output
                         if line.startswith("image-id=")), "")
        containers = super().process([line for line in output if not line.startswith("image-id=")])
        return {"containers": containers, "image_id": image_id or MISSING}

    def default(self):
        return {"containers": [], "image_id": MISSING}
