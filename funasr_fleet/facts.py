"""
Facts funasr-fleet reads from hosts. One remote command each; a missing binary or
path gives the empty value, never an error.
"""

import json
import re
import shlex

from pyinfra.api import FactBase

from .models import MANIFEST

MISSING = None


class PathStates(FactBase):
    """
    Type, mode, owner and (for regular files) sha256 of several paths, in one command.

    Returns ``{path: {"type": "file"|"directory"|"other", "mode": "644", "owner": "root",
    "group": "root", "sha256": "..." or None}}``; missing paths are absent.

    .. code:: python

        host.get_fact(PathStates, paths=["/opt/funasr", "/opt/funasr/compose.yaml"])
    """

    def command(self, paths):
        quoted = " ".join(shlex.quote(path) for path in paths)
        return (
            f"for p in {quoted}; do "
            'if [ -f "$p" ]; then printf "F\\t%s\\t%s\\t%s\\n" "$(stat --printf "%a\\t%U\\t%G" -- "$p")" '
            '"$(sha256sum -- "$p" | cut -d" " -f1)" "$p"; '
            'elif [ -e "$p" ]; then printf "%s\\t%s\\t-\\t%s\\n" "$([ -d "$p" ] && echo D || echo O)" '
            '"$(stat --printf "%a\\t%U\\t%G" -- "$p")" "$p"; fi; done'
        )

    def process(self, output):
        kinds = {"F": "file", "D": "directory", "O": "other"}
        states = {}
        for line in output:
            kind, mode, owner, group, sha256, path = line.split("\t", 5)
            states[path] = {
                "type": kinds[kind],
                "mode": mode,
                "owner": owner,
                "group": group,
                "sha256": None if sha256 == "-" else sha256,
            }
        return states

    def default(self):
        return {}


class DebPackageVersions(FactBase):
    """
    Installed versions of the named Debian packages: ``{name: version}``; absent ones missing.

    .. code:: python

        host.get_fact(DebPackageVersions, packages=["docker.io", "docker-compose"])
    """

    def requires_command(self, packages):
        return "dpkg-query"

    def command(self, packages):
        names = " ".join(shlex.quote(name) for name in packages)
        return f"dpkg-query -W -f '${{db:Status-Status}}\\t${{Package}}\\t${{Version}}\\n' {names} 2>/dev/null || true"

    def process(self, output):
        versions = {}
        for line in output:
            status, name, version = (line.split("\t") + ["", "", ""])[:3]
            if status == "installed":
                versions[name] = version
        return versions

    def default(self):
        return {}


class SystemdUnitState(FactBase):
    """
    Whether a systemd unit is active, failed and enabled, and whether its unit file changed
    on disk since systemd loaded it: ``{"active": bool, "failed": bool, "enabled": bool,
    "need_reload": bool}``.

    .. code:: python

        host.get_fact(SystemdUnitState, unit="docker.service")
    """

    def requires_command(self, unit):
        return "systemctl"

    def command(self, unit):
        name = shlex.quote(unit)
        return (f"systemctl is-active {name} || true; systemctl is-enabled {name} || true; "
                f"systemctl show --property NeedDaemonReload --value {name} || true")

    def process(self, output):
        lines = [line.strip() for line in output] + ["", "", ""]
        return {"active": lines[0] == "active", "failed": lines[0] == "failed",
                "enabled": lines[1] == "enabled", "need_reload": lines[2] == "yes"}

    def default(self):
        return {"active": False, "failed": False, "enabled": False, "need_reload": False}


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


class KeyringFingerprints(FactBase):
    """
    Fingerprints of the OpenPGP keys in a keyring file (armored or binary); [] if absent.

    .. code:: python

        host.get_fact(KeyringFingerprints, path="/etc/apt/keyrings/docker.asc")
    """

    def requires_command(self, path):
        return "gpg"

    def command(self, path):
        return (f"[ ! -f {shlex.quote(path)} ] || gpg --show-keys --with-colons {shlex.quote(path)} "
                "2>/dev/null | awk -F: '$1 == \"fpr\" {print $10}'")

    def process(self, output):
        return [line.strip() for line in output if line.strip()]

    def default(self):
        return []


class ModelManifests(FactBase):
    """
    The funasr-fleet model manifests the host holds (every model directory
    ``<directory>/<owner>/<name@revision>``), its rsync version, whether its CPU has AES
    instructions (for the ssh cipher of the copy), and the free space there.

    Returns ``{"rsync": version tuple (e.g. ``(3, 4, 1)``) or None, "cpu_aes": bool,
    "free_kib": int or None, "manifests": {model directory relative to ``directory``:
    manifest dict}}``; unreadable manifests are absent.

    .. code:: python

        host.get_fact(ModelManifests, directory="/opt/funasr/models")
        # {"manifests": {"iic/speech_fsmn_vad_zh-cn-16k-common-onnx@v2.0.4": {...}}, ...}
    """

    CPUINFO = "/proc/cpuinfo"

    def command(self, directory):
        quoted = shlex.quote(directory)
        return ("echo rsync=$(rsync --version 2>/dev/null | head -n 1); "
                f"{cpu_aes_test(self.CPUINFO)} && echo cpu_aes=1; "
                f"d={quoted}; while [ ! -d \"$d\" ]; do d=$(dirname \"$d\"); done; "
                "df -Pk \"$d\" | awk 'NR == 2 {print \"free=\" $4}'; "
                f'if cd {quoted} 2>/dev/null; then for p in */*/{MANIFEST}; do if [ -f "$p" ]; then '
                'printf "%s\\t" "${p%/*}"; tr -d "\\n" < "$p"; echo; fi; done; fi')

    def process(self, output):
        facts = self.default()
        for line in output:
            if line.startswith("rsync="):
                facts["rsync"] = rsync_version(line[6:])
                continue
            if line == "cpu_aes=1":
                facts["cpu_aes"] = True
                continue
            if line.startswith("free="):
                facts["free_kib"] = int(line[5:]) if line[5:].strip().isdigit() else None
                continue
            path, _, text = line.partition("\t")
            try:
                facts["manifests"][path] = json.loads(text)
            except ValueError:
                pass  # a damaged manifest counts as none: the model is sent again
        return facts

    def default(self):
        return {"rsync": None, "cpu_aes": False, "free_kib": None, "manifests": {}}


def cpu_aes_test(cpuinfo="/proc/cpuinfo"):
    """Shell test, true when ``cpuinfo`` lists AES instructions (x86 ``flags: ... aes``,
    Arm ``Features: ... aes``); false when it cannot be read (e.g. macOS). Run on hosts by
    `ModelManifests` and on the control node by `funasr_fleet.transfer.cpu_has_aes`."""
    return ("grep -qsE '^(flags|Features)[[:space:]]*:(.*[[:space:]])?aes([[:space:]]|$)' "
            f"{shlex.quote(cpuinfo)}")


def rsync_version(banner):
    """``(3, 4, 1)`` from rsync's ``--version`` first line, None when there is none."""
    match = re.search(r"rsync\s+version\s+v?(\d+)\.(\d+)\.(\d+)", banner)
    return tuple(int(part) for part in match.groups()) if match else None


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


class ReleaseRecord(FactBase):
    """
    The host's release record (``<funasr_dir>/release.json``), or {} when it has none.

    ``{"current": {"version", "image", "image_id", "config_sha256", "started_at",
    "healthy_at"}, "previous": {...} or None}``

    .. code:: python

        host.get_fact(ReleaseRecord, path="/opt/funasr/release.json")
    """

    def command(self, path):
        return f"cat {shlex.quote(path)} 2>/dev/null || true"

    def process(self, output):
        try:
            record = json.loads("\n".join(output))
        except ValueError:
            return {}
        return record if isinstance(record, dict) else {}

    def default(self):
        return {}


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


class NftTableDigest(FactBase):
    """
    The configuration digest an nftables table carries in its comment
    (``comment "funasr-fleet config-sha256 <hex>"``), or None: no such table, no nft, or
    a table without that comment (e.g. edited by hand); and the sha256 of the ruleset file
    that loads it (None: no file). ``{"live": ..., "file": ...}``, in one command.

    .. code:: python

        host.get_fact(NftTableDigest, table="inet funasr_fleet", path="/etc/funasr-fleet/firewall.nft")
    """

    _COMMENT = re.compile(r'^\s*comment "funasr-fleet config-sha256 ([0-9a-f]{64})"')
    _FILE = re.compile(r"^file-sha256 ([0-9a-f]{64})$")

    def command(self, table, path):
        return (f"nft list table {' '.join(map(shlex.quote, table.split()))} 2>/dev/null; "
                f"[ ! -f {shlex.quote(path)} ] || echo \"file-sha256 $(sha256sum < {shlex.quote(path)} "
                "| cut -d' ' -f1)\"; true")

    def process(self, output):
        live = next((match.group(1) for match in map(self._COMMENT.match, output) if match), MISSING)
        file = next((match.group(1) for match in map(self._FILE.match, output) if match), MISSING)
        return {"live": live, "file": file}

    def default(self):
        return {"live": MISSING, "file": MISSING}


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
