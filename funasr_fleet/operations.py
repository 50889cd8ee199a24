"""
funasr-fleet's own operations, for what pyinfra's built-ins do with more remote
commands or without idempotence (``docker.compose`` always reports a change).

Each reads the host with one fact and yields commands only for what differs, so a
converged host costs one remote command per operation.
"""

import datetime
import json
import re
import time
from dataclasses import dataclass
from io import BytesIO

from pyinfra import host
from pyinfra.api import FunctionCommand, HiddenValue, StringCommand, operation
from pyinfra.api.command import FileUploadCommand, QuoteString
from pyinfra.connectors.util import make_unix_command_for_host

from .balancer import CONFIG_PATH as BALANCER_CONFIG
from .digest import sha256_bytes
from .facts.apt import DebPackageVersions, KeyringFingerprints
from .facts.docker import ComposeContainers, ComposeProject, DockerImageId
from .facts.files import PathStates
from .facts.models import ModelManifests
from .facts.nftables import NftTableDigest
from .facts.nvidia import EXPORT_MARKER, GpuExportState, GpusInContainer
from .facts.release import ReleaseRecord
from .facts.systemd import SystemdUnitState
from .models import MANIFEST, transfer_tree
from .probe import reaches, wait_until_healthy
from .render import EXPORTS_DIR, render_balancer
from .transfer import SshRsyncCommand, can_rsync, local_rsync_version, ssh_ciphers

APT_ENV = "DEBIAN_FRONTEND=noninteractive"


@operation()
def packages_installed(packages, versions=None, upgrade=True):
    """
    Install Debian packages that are missing (or not at the pinned version).

    + packages: package names
    + versions: optional ``{name: version}`` pins
    + upgrade: False: only missing packages are installed (at their pin); an installed
      package at another version is left for a later operation (e.g. in the host's wave)

    ``apt-get update`` runs only when something must be installed, so a converged
    host costs one ``dpkg-query``.

    **Example:**

    .. code:: python

        packages_installed(
            name="Install Docker Engine",
            packages=["docker.io", "docker-compose"],
        )
    """
    versions = versions or {}
    installed = host.get_fact(DebPackageVersions, packages=packages)
    wanted = [
        f"{name}={versions[name]}" if versions.get(name) else name
        for name in packages
        if name not in installed or (upgrade and versions.get(name) and installed[name] != versions[name])
    ]
    if wanted:
        yield f"{APT_ENV} apt-get update -q"
        yield StringCommand(APT_ENV, "apt-get", "install", "-y", "-q", "--no-install-recommends",
                            *[QuoteString(item) for item in wanted])


@operation()
def managed_paths(directories=(), files=(), backup_dir=None):
    """
    Make directories and file contents, modes and owners exactly as given (owner root).

    + directories: ``(path, mode)`` pairs, created with parents
    + files: ``(path, content, mode)`` triples; content is ``str``, ``bytes``, or a
      ``pyinfra.api.HiddenValue`` holding either, for secrets (private keys)
    + backup_dir: when a file's content is about to change, the current versions of all
      ``files`` that exist are first copied here (the copy replaces the old backup by
      rename), e.g. to keep the previous release

    One fact reads every path; only files whose sha256 or mode differ are uploaded
    (to a temporary name, then renamed into place, so readers never see half a file).
    Contents are never printed or diffed, in ``--dry`` or otherwise; a secret passed as a
    ``HiddenValue`` also stays masked where pyinfra shows an operation's arguments.

    **Example:**

    .. code:: python

        managed_paths(
            name="FunASR service files",
            directories=[("/opt/funasr", "755")],
            files=[("/opt/funasr/hotwords.txt", "阿里巴巴 20\\n", "644")],
        )
    """
    states = host.get_fact(PathStates, paths=[path for path, _ in directories]
                           + [path for path, _, _ in files])
    for path, mode in directories:
        state = states.get(path)
        if state is None or state["type"] != "directory":
            yield StringCommand("mkdir", "-p", "-m", mode, QuoteString(path))
        if state is None or state["mode"] != mode or (state["owner"], state["group"]) != ("root", "root"):
            yield StringCommand("chmod", mode, QuoteString(path), "&&",
                                "chown", "root:root", QuoteString(path))
    changing = [path for path, content, _ in files
                if (states.get(path) or {}).get("sha256") != sha256_bytes(_file_bytes(content))]
    existing = [path for path, _, _ in files if path in states]
    if backup_dir and changing and existing:
        yield _backed_up(existing, backup_dir)
    for path, content, mode in files:
        state = states.get(path)
        if path in changing:
            temporary = f"{path}.funasr-fleet-new"
            yield FileUploadCommand(BytesIO(_file_bytes(content)), temporary)
            yield StringCommand("chmod", mode, QuoteString(temporary), "&&", "chown", "root:root",
                                QuoteString(temporary), "&&", "mv", "-f", QuoteString(temporary),
                                QuoteString(path))
        elif state["mode"] != mode or (state["owner"], state["group"]) != ("root", "root"):
            yield StringCommand("chmod", mode, QuoteString(path), "&&",
                                "chown", "root:root", QuoteString(path))


def _file_bytes(content):
    """The bytes of a `managed_paths` file content (``str``, ``bytes`` or a ``HiddenValue``)."""
    if isinstance(content, HiddenValue):
        content = content.unmask()
    return content.encode("utf-8") if isinstance(content, str) else content


def _backed_up(paths, backup_dir):
    """Copy ``paths`` (absolute, keeping modes) under a fresh ``backup_dir``, swapped in by
    rename; `_restored` puts them back."""
    staging = QuoteString(f"{backup_dir}.new")
    return StringCommand("rm", "-rf", staging, "&&", "mkdir", "-m", "700", staging, "&&",
                         "cp", "-p", "--parents", *map(QuoteString, paths), staging, "&&",
                         "rm", "-rf", QuoteString(backup_dir), "&&", "mv", staging, QuoteString(backup_dir))


def _restored(backup_dir):
    """Command putting the files a `managed_paths` backup holds back where they were."""
    return StringCommand("cd", QuoteString(backup_dir), "&&", "find", ".", "-type", "f", "-exec",
                         "cp", "-p", "--parents", "-t", "/", "{}", "+")


@operation()
def unit_running(unit, restart=False):
    """
    Make a systemd unit enabled and active; restart it when asked.

    + unit: unit name, e.g. ``docker.service``
    + restart: restart even if running (pass it through ``_if`` to restart on change)

    When the unit's file changed on disk since systemd loaded it (a unit file this run
    wrote), ``systemctl daemon-reload`` runs first.

    **Example:**

    .. code:: python

        daemon = managed_paths(files=[("/etc/docker/daemon.json", text, "644")])
        unit_running(unit="docker.service")
        unit_running(name="Restart Docker", unit="docker.service", restart=True,
                     _if=daemon.did_change)
    """
    if restart:
        yield StringCommand("systemctl", "reset-failed", QuoteString(unit), "2>/dev/null", ";",
                            "systemctl", "restart", QuoteString(unit))
        return
    state = host.get_fact(SystemdUnitState, unit=unit)
    if state.get("need_reload"):
        yield StringCommand("systemctl", "daemon-reload")
    if not state["enabled"]:
        yield StringCommand("systemctl", "enable", QuoteString(unit))
    if state.get("failed"):
        # A unit that failed too often is refused by systemd ("start request repeated too
        # quickly", StartLimitBurst) until its failed state is reset: a re-run heals it.
        yield StringCommand("systemctl", "reset-failed", QuoteString(unit), *(
            [QuoteString(unit.replace(".service", ".socket")), "2>/dev/null", "||", "systemctl",
             "reset-failed", QuoteString(unit)] if unit.endswith(".service") else []))
    if not state["active"]:
        yield StringCommand("systemctl", "start", QuoteString(unit))


DAEMON_JSON = "/etc/docker/daemon.json"
# How long a restarted dockerd may take to answer `docker info` before it counts as failed.
DOCKER_START_SECONDS = 60


@operation()
def docker_daemon_json(text, path=DAEMON_JSON, knobs=None, only_if_stopped=False):
    """
    Install Docker's daemon.json only after dockerd accepted it, restart Docker, and
    put the previous file back if Docker does not come back.

    + text: the daemon.json content (`funasr_fleet.render.render_daemon_json`)
    + path: where dockerd reads it
    + knobs: ``{daemon.json key: the data that sets it}``, to name what changed when
      Docker does not come back (`funasr_fleet.render.DAEMON_KNOBS`)
    + only_if_stopped: the file goes in only where Docker is not running (not installed
      yet, stopped, or failed: its next start reads it, and no container runs that a
      restart would touch); where Docker runs, the file is left for a later operation
      (the host's wave). A host left with a daemon.json Docker cannot start with is so
      healed by the next run with good data.

    A changed file is uploaded beside the live one and checked with ``dockerd --validate
    --config-file`` where the engine has it (Docker 23.0 and later; an older engine gets
    only the control node's check of the keys funasr-fleet writes). Refused: the live file
    stays and the host fails with dockerd's reason. Accepted: the live file is kept as
    ``daemon.json.funasr-fleet-previous`` and replaced; when Docker runs it is restarted
    (with ``live-restore`` the containers keep running) and must answer within 60 s.
    Otherwise the previous file is restored, the unit's failed state reset (systemd
    refuses a fourth quick start: "start request repeated too quickly"), Docker started
    again, and the host fails with one line naming the changed keys, their data and
    dockerd's reason. Where Docker is not running, the file is simply put in place.

    **Example:**

    .. code:: python

        docker_daemon_json(text=render_daemon_json(settings), knobs=DAEMON_KNOBS)
    """
    state = host.get_fact(PathStates, paths=[path]).get(path) or {}
    if state.get("sha256") == sha256_bytes(text.encode("utf-8")):
        if state.get("mode") != "644":
            yield StringCommand("chmod", "644", QuoteString(path))
        return
    directory = path.rsplit("/", 1)[0]
    yield StringCommand("mkdir", "-p", "-m", "755", QuoteString(directory))
    yield FileUploadCommand(BytesIO(text.encode("utf-8")), f"{path}.funasr-fleet-new")
    yield FunctionCommand(_daemon_json_applied, (path, text, knobs or {}, only_if_stopped), {})


def _daemon_json_applied(state, host, path, text, knobs, only_if_stopped=False):
    """FunctionCommand body of `docker_daemon_json`: validate, swap, restart, restore."""
    candidate, previous = f"{path}.funasr-fleet-new", f"{path}.funasr-fleet-previous"
    checked, output = host.run_shell_command(StringCommand(
        "if", "command", "-v", "dockerd", ">/dev/null", "&&", "dockerd", "--help", "2>&1", "|",
        "grep", "-q", "--", "--validate;", "then", "dockerd", "--validate", "--config-file",
        QuoteString(candidate), ";", "fi"))
    if not checked:
        reason = " ".join(output.stderr_lines + output.stdout_lines)[-300:]
        host.run_shell_command(StringCommand("rm", "-f", QuoteString(candidate)))
        host.log_styled(f"daemon.json refused by dockerd --validate ({reason}); the current "
                        "daemon.json stays, Docker was not restarted. Fix the docker_* data.", fg="red")
        return False
    running, _ = host.run_shell_command("systemctl is-active --quiet docker.service")
    if running and only_if_stopped:  # Docker runs: the change is the wave's
        host.run_shell_command(StringCommand("rm", "-f", QuoteString(candidate)))
        return True
    _, live = host.run_shell_command(StringCommand("cat", QuoteString(path), "2>/dev/null", "||", "true"))
    changed = daemon_json_changes("\n".join(live.stdout_lines), text, knobs)
    swapped, output = host.run_shell_command(StringCommand(
        "(", "[", "!", "-f", QuoteString(path), "]", "||", "cp", "-p", QuoteString(path),
        QuoteString(previous), ")", "&&", "chmod", "644", QuoteString(candidate), "&&",
        "mv", "-f", QuoteString(candidate), QuoteString(path)))
    if not swapped:
        host.log_styled(f"could not install {path}: {' '.join(output.stderr_lines)[-300:]}", fg="red")
        return False
    if not running:
        return True  # not installed, stopped or failed: its next start reads the new file
    if _docker_restarted(host):
        return True
    _, journal = host.run_shell_command(
        "journalctl -u docker.service -n 40 --no-pager -o cat 2>/dev/null || true")
    reason = dockerd_failure(journal.stdout_lines)
    _daemon_json_restored(host, path)
    back = _docker_restarted(host)
    host.log_styled(f"Docker did not start with the new daemon.json (changed: {changed}; {reason}); "
                    f"the previous daemon.json was restored and Docker "
                    f"{'started again' if back else 'STILL DOES NOT START'}. No further wave starts.",
                    fg="red")
    return False


def _daemon_json_restored(host, path):
    """Put the previous daemon.json (kept by `_daemon_json_applied`) back, or none as before."""
    previous = f"{path}.funasr-fleet-previous"
    host.run_shell_command(StringCommand(
        "if", "[", "-f", QuoteString(previous), "];", "then", "cp", "-p", QuoteString(previous),
        QuoteString(path), ";", "else", "rm", "-f", QuoteString(path), ";", "fi"))


def dockerd_failure(journal):
    """dockerd's own last words in its unit's journal lines (systemd's lines and dockerd's
    info and warning lines left out), e.g. ``Unable to get the full path to root (...)``."""
    systemd = ("docker.service:", "Starting docker", "Started docker", "Stopping docker",
               "Stopped docker", "Failed to start docker", "docker.socket")
    said = [line.strip() for line in journal if line.strip() and not line.startswith(systemd)
            and "level=info" not in line and "level=warning" not in line]
    if not said:
        return "see journalctl -u docker.service"
    last = said[-1]
    message = re.search(r'msg="((?:[^"\\]|\\.)*)"', last)
    return (message.group(1) if message else last)[-300:]


def daemon_json_changes(live, new, knobs):
    """The top-level keys whose values differ between two daemon.json texts, each with the
    data that sets it (``knobs``), e.g. ``data-root (docker_data_root)``; the live text
    may be empty or unreadable (no file yet)."""
    def parsed(text):
        try:
            value = json.loads(text)
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}

    before, after = parsed(live), parsed(new)
    keys = sorted(key for key in before.keys() | after.keys() if before.get(key) != after.get(key))
    return ", ".join(f"{key} ({knobs[key]})" if key in knobs else key for key in keys) or "nothing"


def _docker_restarted(host):
    """Reset docker's failed state, restart it, wait until it answers; True when it does."""
    host.run_shell_command(StringCommand(
        "systemctl", "reset-failed", "docker.service", "docker.socket", "2>/dev/null", ";",
        "systemctl", "restart", "docker.service"))
    deadline = time.monotonic() + DOCKER_START_SECONDS
    while time.monotonic() < deadline:
        # Up: systemd says active and the daemon answers with its version (a docker CLI
        # call alone could start it through docker.socket, or print nothing and exit 0).
        answered, _ = host.run_shell_command(
            "systemctl is-active --quiet docker.service && "
            "test -n \"$(docker info --format '{{.ServerVersion}}' 2>/dev/null)\"")
        if answered:
            return True
        failed, _ = host.run_shell_command("systemctl is-failed --quiet docker.service")
        if failed:  # its start limit hit, or no restart left: it will not come up by itself
            return False
        time.sleep(1)
    return False


@operation()
def nft_table_loaded(path, table, text, config_sha256, probe_urls=()):
    """
    Install and load an nftables file that replaces one table, when the live table or
    the file is not this one; undo it on the spot when it cuts the control node off.

    + path: where the ruleset file lives on the host (a boot unit loads it)
    + table: the table the file replaces, ``"FAMILY NAME"``, e.g. ``"inet funasr_fleet"``
    + text: the file's content; it must replace only its own table: ``table FAMILY NAME
      {}`` (created if missing), ``delete table FAMILY NAME``, then the definition
    + config_sha256: the digest the file gives its table as comment
      (``comment "funasr-fleet config-sha256 <hex>"``, see `funasr_fleet.render.render_firewall`)
    + probe_urls: the servers' probe URLs; after loading, each must still be reached from
      this control node (`funasr_fleet.probe.reaches`)

    The new file is loaded from beside the live one: ``nft -f`` applies it in one
    transaction (the old rules stay until the new ones are in; no other table, such as
    Docker's iptables-nft rules, is touched). When a probe URL is then dropped on the way,
    the table as it was is loaded back (or deleted, when there was none), the file is not
    installed, and the host fails with one line: the health gate could never pass.
    Otherwise the file replaces the live one. One fact reads the live table's digest and
    the file's: a converged host costs one command.

    **Example:**

    .. code:: python

        nft_table_loaded(path="/etc/funasr-fleet/firewall.nft", table="inet funasr_fleet",
                         text=ruleset, config_sha256=digest, probe_urls=["ws://asr-1:10095"])
    """
    state = host.get_fact(NftTableDigest, table=table, path=path)
    in_file = state["file"] == sha256_bytes(text.encode("utf-8"))
    if state["live"] == config_sha256 and in_file:
        return
    if state["live"] == config_sha256:  # loaded, but the boot file differs: the file only
        yield FileUploadCommand(BytesIO(text.encode("utf-8")), f"{path}.funasr-fleet-new")
        yield StringCommand("chmod", "644", QuoteString(f"{path}.funasr-fleet-new"), "&&", "mv", "-f",
                            QuoteString(f"{path}.funasr-fleet-new"), QuoteString(path))
        return
    yield StringCommand("mkdir", "-p", "-m", "755", QuoteString(path.rsplit("/", 1)[0]))
    yield FileUploadCommand(BytesIO(text.encode("utf-8")), f"{path}.funasr-fleet-new")
    yield FunctionCommand(_ruleset_loaded, (path, table, tuple(probe_urls)), {})


def _ruleset_loaded(state, host, path, table, probe_urls):
    """FunctionCommand body of `nft_table_loaded`: keep the live table, load the new
    file, check the probe still gets through, then install the file or undo the load."""
    new, kept = QuoteString(f"{path}.funasr-fleet-new"), QuoteString(f"{path}.funasr-fleet-live")
    family_name = table.split()
    had, _ = host.run_shell_command(StringCommand(
        "nft", "list", "table", *family_name, ">", kept, "2>/dev/null"))
    loaded, output = host.run_shell_command(StringCommand("nft", "-f", new))
    if not loaded:
        host.run_shell_command(StringCommand("rm", "-f", new, kept))
        host.log_styled(f"nft refused the new ruleset ({' '.join(output.stderr_lines)[-300:]}); "
                        f"table {table} stays as it was. No further wave starts.", fg="red")
        return False
    blocked = [url for url in probe_urls if not reaches(url)]
    if not blocked:
        host.run_shell_command(StringCommand("chmod", "644", new, "&&", "mv", "-f", new, QuoteString(path),
                                             "&&", "rm", "-f", kept))
        return True
    undo = (StringCommand("(", "echo", QuoteString(f"table {table} {{}}"), ";", "echo",
                          QuoteString(f"delete table {table}"), ";", "cat", kept, ")", "|", "nft", "-f", "-")
            if had else StringCommand("nft", "delete", "table", *family_name))
    undone, _ = host.run_shell_command(undo)
    host.run_shell_command(StringCommand("rm", "-f", new, kept))
    host.log_styled(f"the new firewall (funasr_allow_from) drops this control node's probe to "
                    f"{', '.join(blocked)}: table {table} was put back as it was"
                    f"{'' if undone else ' (FAILED: check nft list ruleset)'}. Allow the control "
                    "node's address in funasr_allow_from. No further wave starts.", fg="red")
    return False


@operation()
def image_pulled(image, username="", password=None):
    """
    Pull an image when the host does not have that reference.

    + image: full image reference
    + username: registry user ("" = anonymous)
    + password: registry password, a ``pyinfra.api.HiddenValue`` (sent on stdin, never shown)

    **Example:**

    .. code:: python

        image_pulled(image="registry.cn-hangzhou.aliyuncs.com/funasr_repo/funasr:TAG")
    """
    if host.get_fact(DockerImageId, image=image):
        return
    if username:
        registry = image.split("/", 1)[0]
        yield StringCommand("docker", "login", "--username", QuoteString(username),
                            "--password-stdin", QuoteString(registry), _stdin=password.unmask())
    yield StringCommand("docker", "pull", QuoteString(image))


@operation()
def image_loaded(tarball):
    """
    Stream a ``docker save`` tarball into ``docker load`` unless the host has that image ID.

    + tarball: an `funasr_fleet.images.ImageTarball` made on the control node

    The reference is compared by image ID, not name, so a retagged image is loaded
    again; an image ID the host already has under another name is only tagged (no
    transfer). Over SSH the tarball is streamed (no copy on the host's disk); other
    connectors upload it to a temporary file first.

    **Example:**

    .. code:: python

        image_loaded(tarball=prepare_tarball(image, cache_dir))
    """
    if host.get_fact(DockerImageId, image=tarball.image) == tarball.image_id:
        return
    if host.get_fact(DockerImageId, image=tarball.image_id) != tarball.image_id:
        yield FunctionCommand(_stream_docker_load, (tarball,), {})
    yield StringCommand("docker", "tag", tarball.image_id, QuoteString(tarball.image))


def _stream_docker_load(state, host, tarball):
    """FunctionCommand body: pipe the tarball into ``docker load``, then check the image ID."""
    client = getattr(host.connector, "client", None)
    if client is None:
        remote = f"/tmp/funasr-fleet-{tarball.path.name}"
        host.put_file(str(tarball.path), remote)
        loaded, _ = host.run_shell_command(StringCommand("docker", "load", "-i", remote, "&&",
                                                         "rm", "-f", remote))
    else:
        command = make_unix_command_for_host(state, host, StringCommand("docker", "load"))
        stdin, stdout, stderr = client.exec_command(command.get_raw_value())
        try:
            with open(tarball.path, "rb") as source:
                for block in iter(lambda: source.read(1 << 20), b""):
                    stdin.write(block)
            stdin.channel.shutdown_write()
        except OSError:  # docker load stopped reading (e.g. a full disk): its status says why
            pass
        loaded = stdout.channel.recv_exit_status() == 0
        if not loaded:
            host.log_styled(
                f"docker load of {tarball.path.name} failed: "
                f"{stderr.read().decode(errors='replace').strip()[-400:]}. The host keeps its "
                "current image and server; free space in docker's data root (docker_data_root) "
                "and run again.", fg="red")
    if loaded and host.get_fact(DockerImageId, image=tarball.image_id) != tarball.image_id:
        host.log(f"docker load of {tarball.path.name} did not give image ID {tarball.image_id}")
        return False
    return loaded


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


@operation()
def models_seeded(models_dir, cached_models, use_rsync=True, ciphers="auto"):
    """
    Give the host each model revision from the control-node cache, sending only what differs.

    + models_dir: the host's models directory, e.g. ``/opt/funasr/models``
    + cached_models: `funasr_fleet.models.CachedModel` items
    + use_rsync: use rsync over SSH when both ends have it (else pyinfra's file transfer)
    + ciphers: SSH ciphers for rsync (``funasr_models_ssh_ciphers``): ``"auto"`` (AES-GCM
      first when both ends have AES instructions), ``""`` (ssh's choice) or a list

    Each revision lives in its own directory (``<owner>/<name>@<revision>``), so the
    running server's models are never touched and the previous release's stay for a
    rollback (`release_healthy` prunes revisions no release uses any more). One fact
    reads every manifest the host holds; a revision whose manifest equals the cache's
    costs nothing (no re-hashing of gigabytes). Otherwise the revision gets a staging
    copy under ``<models_dir>/.funasr-fleet-staging``, hard-linked (instant, no space)
    from the closest copy the host holds (the same revision, or another revision of
    the same model); only files whose sha256 differs are sent into it (a sent file
    replaces its link, so no live file is ever written), in one rsync for all models;
    files the revision lacks are removed; then each staging copy is renamed into place.
    An interrupted run leaves every live directory as it was.

    **Example:**

    .. code:: python

        models_seeded(models_dir="/opt/funasr/models", cached_models=cached)
    """
    facts = host.get_fact(ModelManifests, directory=models_dir)
    held = facts["manifests"]
    changed = [(model, _closest_held(model, held)) for model in cached_models
               if held.get(model.spec.dirname) != model.manifest]
    if not changed:
        return
    plans = [(model, base, *_files_to_change(model, held.get(base))) for model, base in changed]
    needed = sum(entry["size"] for _, _, send, _ in plans for entry in send)
    if facts.get("free_kib") is not None and needed > facts["free_kib"] * 1024:
        yield FunctionCommand(_not_enough_space, (models_dir, needed, facts["free_kib"] * 1024), {})
        return
    staging = f"{models_dir}/{STAGING}"
    yield _staging_prepared(models_dir, staging, [(model, base) for model, base, _, _ in plans])
    if use_rsync and facts["rsync"] and can_rsync(host):
        files = [(f"{model.spec.dirname}/{entry['path']}", model.directory / entry["path"])
                 for model, _, send, _ in plans for entry in (*send, {"path": MANIFEST})]
        yield SshRsyncCommand(f"{transfer_tree(cached_models[0].cache, files)}/", f"{staging}/",
                              model_rsync_flags(facts["rsync"]), ssh_ciphers(ciphers, facts["cpu_aes"]))
        for model, _, _, stale in plans:
            if stale:
                yield StringCommand("rm", "-f", *(QuoteString(f"{staging}/{model.spec.dirname}/{path}")
                                                  for path in stale))
    else:
        for model, _, send, stale in plans:
            yield from _files_uploaded(model, send, stale, f"{staging}/{model.spec.dirname}")
    yield _staging_swapped(models_dir, staging, [model for model, _, _, _ in plans])


STAGING = ".funasr-fleet-staging"
# The first rsync whose --checksum-choice accepts "none".
RSYNC_CC_NONE = (3, 2, 3)


def model_rsync_flags(remote_rsync):
    """rsync's flags for sending a `transfer_tree` into a staging copy, for a host whose
    rsync is ``remote_rsync`` (a version tuple).

    --copy-links: the tree's symlinks are the cached files; --ignore-times: every file in
    it differs from the host's (by sha256), whatever its size and time; no --delete: the
    staging copy keeps the linked files that did not change (stale ones are removed by
    name); no --inplace: a sent file replaces its hard link, never writes through it.
    --checksum-choice=none (both ends 3.2.3+): the files were sha256-verified into the
    cache and SSH authenticates every byte in transit, so rsync's own whole-file checksum
    would only hash every byte again on both ends. Files arrive under temporary names,
    renamed when complete.
    """
    skip = ["--checksum-choice=none"] if min(local_rsync_version(), remote_rsync) >= RSYNC_CC_NONE else []
    return ["-rt", "--copy-links", "--ignore-times", "--whole-file", "--chmod=D755,F644", *skip]


def _closest_held(model, held):
    """The model directory the host holds that shares most files with ``model``: its own
    revision's, else another revision of the same model, else None."""
    if model.spec.dirname in held:
        return model.spec.dirname
    wanted = {(entry["path"], entry["sha256"]) for entry in model.files}
    same_model = [(len(wanted & {(e["path"], e["sha256"]) for e in manifest.get("files", [])}), dirname)
                  for dirname, manifest in held.items() if manifest.get("id") == model.spec.id]
    return max(same_model)[1] if same_model else None


def _files_to_change(model, base):
    """``(entries to send, paths to remove)`` to turn a copy of the manifest ``base``
    (None: an empty directory) into ``model``."""
    have = {entry["path"]: entry["sha256"] for entry in (base or {}).get("files", [])}
    send = [entry for entry in model.files if have.get(entry["path"]) != entry["sha256"]]
    stale = sorted(set(have) - {entry["path"] for entry in model.files})
    return send, stale


def _staging_prepared(models_dir, staging, models):
    """A fresh staging root holding, per ``(model, base)``, a hard-linked copy of the
    host's ``base`` model directory (an empty one when base is None)."""
    parts = ["rm", "-rf", QuoteString(staging), "&&", "mkdir", "-p", QuoteString(staging)]
    for model, base in models:
        copy = f"{staging}/{model.spec.dirname}"
        parts += ["&&", "mkdir", "-p", QuoteString(copy.rpartition("/")[0]), "&&"]
        if base:
            parts += ["{", "cp", "-al", QuoteString(f"{models_dir}/{base}"), QuoteString(copy),
                      "2>/dev/null", "||", "mkdir", "-m", "755", QuoteString(copy), ";", "}"]
        else:
            parts += ["mkdir", "-m", "755", QuoteString(copy)]
    return StringCommand(*parts)


def _staging_swapped(models_dir, staging, models):
    """Root-owned staging copies replace the live ones by rename; the staging root goes."""
    parts = ["chown", "-R", "root:root", QuoteString(staging), "&&",
             "chmod", "-R", "u=rwX,go=rX", QuoteString(staging)]
    for model in models:
        live, copy = f"{models_dir}/{model.spec.dirname}", f"{staging}/{model.spec.dirname}"
        old = f"{live}.funasr-fleet-old"
        parts += ["&&", "mkdir", "-p", QuoteString(live.rpartition("/")[0]), "&&",
                  "rm", "-rf", QuoteString(old), "&&",
                  "{", "[", "!", "-e", QuoteString(live), "]", "||",
                  "mv", QuoteString(live), QuoteString(old), ";", "}", "&&",
                  "mv", QuoteString(copy), QuoteString(live), "&&", "rm", "-rf", QuoteString(old)]
    return StringCommand(*parts, "&&", "rm", "-rf", QuoteString(staging))


def _not_enough_space(state, host, models_dir, needed, free):
    """FunctionCommand body: fail the host before any model byte is sent."""
    host.log_styled(f"not enough space for the models on {host.name}:{models_dir}: "
                    f"{needed / 1e6:.1f} MB to send, {free / 1e6:.1f} MB free; free some space "
                    "(the live models stay in use)", fg="red")
    return False


def _files_uploaded(model, send, stale, staging):
    """Commands (pyinfra's file transfer) that make ``staging``, a hard-linked copy of
    what the host held, hold ``model``: remove ``stale`` paths, upload ``send`` entries."""
    if stale:
        yield StringCommand("rm", "-f", *(QuoteString(f"{staging}/{path}") for path in stale))
    for entry in (*send, {"path": MANIFEST}):
        remote = f"{staging}/{entry['path']}"
        yield StringCommand("rm", "-f", QuoteString(remote), "&&", "mkdir", "-p",
                            QuoteString(remote.rpartition("/")[0]))
        yield FileUploadCommand(str(model.directory / entry["path"]), remote)


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
    state = host.get_fact(GpuExportState, path=export.directory, image=image)
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


@operation()
def compose_up(project_dir, project, config_sha256, image, services=("funasr",)):
    """
    Bring a compose project up when its containers are not running this configuration.

    + project_dir: directory with compose.yaml on the host
    + project: compose project name
    + config_sha256: the ``io.funasr-fleet.config-sha256`` label compose.yaml gives the
      containers; running containers with this label are left alone
    + image: the services' image reference; a container created from another image ID
      than the one this tag names now (a re-pushed or re-loaded tag) is recreated
    + services: the compose services that must each run one container (others are removed)

    Unlike ``pyinfra.operations.docker.compose`` this reports no change (and runs no
    compose command) on a converged host; when it runs, compose recreates the container
    only if its configuration changed.

    **Example:**

    .. code:: python

        compose_up(project_dir="/opt/funasr", project="funasr", config_sha256=digest,
                   image="funasr_repo/funasr:funasr-runtime-sdk-online-cpu-0.1.13")
    """
    if _runs_release(host.get_fact(ComposeProject, project=project, image=image),
                     config_sha256, services):
        return
    yield StringCommand("docker", "compose", "--project-directory", QuoteString(project_dir),
                        "--project-name", QuoteString(project), "-f",
                        QuoteString(f"{project_dir}/compose.yaml"), "up", "-d", "--remove-orphans")


def _runs_release(project_state, config_sha256, services):
    """Whether a `ComposeProject` fact shows exactly ``services`` running ``config_sha256``
    from the image ID the tag names now."""
    containers = project_state["containers"]
    running = sorted(container["labels"].get("com.docker.compose.service", "")
                     for container in containers
                     if container["status"] == "running"
                     and container["labels"].get("io.funasr-fleet.config-sha256") == config_sha256
                     and container["image_id"] == project_state["image_id"])
    return running == sorted(services) and len(containers) == len(services)


@operation()
def restart_pending(project, image, services, config_sha256=None, daemon_json=None, pinned=None):
    """
    Report a change when this host's servers are about to be (re)created, or its Docker
    engine about to restart, so a load balancer can drain them first; changes nothing itself.

    + project: compose project name
    + image: the services' image reference
    + services: the compose services of the release (none: nothing to restart, e.g. on a
      load balancer host)
    + config_sha256: the release's config digest (`compose_up` recreates unless the
      containers run it); None: the servers restart regardless (a rollback)
    + daemon_json: the daemon.json text the wave installs (`docker_daemon_json` restarts
      Docker when the live file differs); None: not looked at
    + pinned: ``{package: version}`` the wave installs (an engine upgrade restarts Docker)

    With live-restore the containers survive a Docker restart, but the published ports
    are re-wired as dockerd comes back: draining first costs no session.

    **Example:**

    .. code:: python

        pending = restart_pending(project="funasr", image=image, services=["funasr"],
                                  config_sha256=digest)
        balancer_configured(balancer=balancer, down=changed_on(pending, wave_hosts), drain=True)
    """
    if not services:
        return
    reasons = []
    if config_sha256 is None or not _runs_release(
            host.get_fact(ComposeProject, project=project, image=image), config_sha256, services):
        reasons.append(f"servers restart next: {', '.join(services)}")
    if daemon_json is not None and (host.get_fact(PathStates, paths=[DAEMON_JSON]).get(DAEMON_JSON)
                                    or {}).get("sha256") != sha256_bytes(daemon_json.encode("utf-8")):
        reasons.append("Docker restarts next: daemon.json changes")
    if pinned:
        installed = host.get_fact(DebPackageVersions, packages=list(pinned))
        upgrades = sorted(name for name, version in pinned.items()
                          if name in installed and installed[name] != version)
        if upgrades:
            reasons.append(f"Docker restarts next: {', '.join(upgrades)} change version")
    if reasons:
        yield FunctionCommand(_say, ("; ".join(reasons),), {})


def _say(state, host, message):
    host.log(message)
    return True


@operation()
def balancer_configured(balancer, down=(), drain=False):
    """
    Write the load balancer's nginx stream configuration and reload nginx when it changed.

    + balancer: a `funasr_fleet.balancer.Balancer` (not ``active``: nothing to do here)
    + down: host names whose servers take no new sessions, or a callable returning them
      (evaluated when the operation runs, e.g. from other hosts' results)
    + drain: after the reload, wait until nginx's old workers, which carry the sessions
      begun before it, have exited (at most ``balancer.drain_timeout`` seconds): then no
      session uses a server that was just marked down

    The configuration is checked with ``nginx -t`` in place; a failed check restores the
    previous file and fails the host before nginx reloads.

    **Example:**

    .. code:: python

        balancer_configured(name="Drain wave 1", balancer=balancer, down={"asr-2"}, drain=True)
    """
    if not balancer.active:
        return
    down = set(down() if callable(down) else down)
    text = render_balancer(host.name, balancer, down).encode("utf-8")
    if (host.get_fact(PathStates, paths=[BALANCER_CONFIG]).get(BALANCER_CONFIG) or {}).get(
            "sha256") == sha256_bytes(text):
        return
    new, kept = QuoteString(f"{BALANCER_CONFIG}.funasr-fleet-new"), QuoteString(f"{BALANCER_CONFIG}.previous")
    config = QuoteString(BALANCER_CONFIG)
    yield FileUploadCommand(BytesIO(text), f"{BALANCER_CONFIG}.funasr-fleet-new")
    yield StringCommand(
        "{", "[", "!", "-f", config, "]", "||", "cp", "-p", config, kept, ";", "}", "&&",
        "chmod", "644", new, "&&", "mv", "-f", new, config, "&&",
        "{", "nginx", "-t", "-q", "||", "{", "[", "-f", kept, "]", "&&", "mv", "-f", kept, config,
        "||", "rm", "-f", config, ";", "echo", "'nginx -t refused the new configuration; the "
        "previous one is back'", ">&2", ";", "exit", "1", ";", "}", ";", "}")
    yield FunctionCommand(_nginx_reloaded, (balancer.drain_timeout if drain else 0, sorted(down)), {})


def _nginx_reloaded(state, host, drain_timeout, down):
    """FunctionCommand body: reload nginx (start it if stopped); with ``drain_timeout``,
    wait until the workers that ran before the reload have exited."""
    _, output = host.run_shell_command(StringCommand("pgrep", "-f", "'^nginx: worker process'", "||", "true"))
    old = [pid for pid in output.stdout_lines if pid.strip().isdigit()]
    done, output = host.run_shell_command(StringCommand("systemctl", "reload-or-restart", "nginx"))
    if not done:
        host.log_styled(f"nginx reload failed: {' '.join(output.stderr_lines)[-300:]}", fg="red")
        return False
    if not drain_timeout or not old:
        return True
    deadline = time.monotonic() + drain_timeout + 5
    while time.monotonic() < deadline:
        _, output = host.run_shell_command(StringCommand("ps", "-o", "args=", "-p", ",".join(old), "||", "true"))
        if not [line for line in output.stdout_lines if "nginx: worker" in line]:  # (a reused PID is not one)
            host.log(f"drained: {', '.join(down) or 'no server'} (sessions begun before finished)")
            return True
        time.sleep(0.5)
    host.log_styled(f"drain of {', '.join(down)} timed out after {drain_timeout:g}s: sessions still "
                    "open on them are cut by the restart", fg="yellow")
    return True


@operation()
def release_healthy(gate, release, directory, project):
    """
    Probe each server instance until it answers; record a healthy release, roll back a sick one.

    + gate: a `Gate` (instance URLs, probe mode, TLS policy, timeouts)
    + release: ``{"version", "image", "config_sha256", "models"}`` of the configuration
      just applied (``models``: its model directories below ``<directory>/models``)
    + directory, project: the service directory and compose project on the host

    Left alone because the rollout stopped after another host failed: a log line, no
    failure. Healthy, and the containers run ``release``: the release record
    (``<directory>/release.json``) gets it as current (the former current becomes
    previous) unless it already has it, so a converged host reports no change; model
    revisions neither of the two uses are then removed (kept when the former current
    predates model lists in the record).
    Unhealthy after a change: the files kept in ``previous/`` are restored, compose brings
    the previous release back, it is probed, and the host fails with a message naming
    the version, the probe's error and what was rolled back; the deploy then starts no
    further wave. Unhealthy otherwise: the host fails with the probe's reason and the
    server log tail. Runs in the execution phase only.

    **Example:**

    .. code:: python

        release_healthy(gate=gate, release={"version": "0.1.13", "image": image,
                        "config_sha256": digest}, directory="/opt/funasr", project="funasr")
    """
    if not host.state.is_executing:
        return
    failures = []
    for url, result in zip(gate.urls, _gate_results(gate)):
        if result.ok:
            host.log(f"FunASR healthy at {url}: final result in {result.latency_s:.2f}s")
        else:
            failures.append((url, result))
    current = host.get_fact(ReleaseRecord, path=f"{directory}/release.json").get("current") or {}
    if current.get("config_sha256") == release["config_sha256"]:
        if failures:
            yield FunctionCommand(_report_unhealthy, (failures, directory, project), {})
        return
    containers = host.get_fact(ComposeContainers, project=project)
    runs_release = bool(containers) and all(
        container["labels"].get("io.funasr-fleet.config-sha256") == release["config_sha256"]
        for container in containers)
    stopped = sorted(failed.name for failed in host.state.failed_hosts)
    if stopped and not runs_release:  # left alone: say so, do not add to the failures
        host.log(f"not changed: the rollout stopped after {', '.join(stopped)} failed"
                 + (f" (this host's server: {failures[0][1].stage}: {failures[0][1].error})"
                    if failures else ""))
        return
    if not failures and runs_release:
        entry = {**release, "image_id": containers[0]["image_id"],
                 "started_at": max(container["started_at"] for container in containers),
                 "healthy_at": _now()}
        yield _json_written(f"{directory}/release.json", {"current": entry, "previous": current or None})
        if "models" in release and (not current or "models" in current):
            yield _models_pruned(f"{directory}/models", {*release["models"], *current.get("models", ())})
        if "exports" in release:
            yield _models_pruned(f"{directory}/{EXPORTS_DIR}",
                                 {*release["exports"], *current.get("exports", ())}, EXPORT_MARKER)
    elif failures and runs_release and current:
        yield FunctionCommand(_rolled_back, (gate, release, current, failures, directory, project), {})
    elif failures:
        yield FunctionCommand(_report_unhealthy, (failures, directory, project), {})


@operation()
def release_rolled_back(gate, directory, project):
    """
    Put the host back on the previous release its release record names, then probe it.

    + gate: a `Gate` (instance URLs, probe mode, TLS policy, timeouts)
    + directory, project: the service directory and compose project on the host

    The current release's files are set aside, the ones kept in ``previous/`` restored,
    compose brings the previous release up and it is probed. Healthy: the record swaps
    current and previous (so does ``previous/``). Unhealthy: the current release is put
    back and the host fails. A host without a previous release is left alone.

    **Example:**

    .. code:: python

        release_rolled_back(gate=gate, directory="/opt/funasr", project="funasr")
    """
    record = host.get_fact(ReleaseRecord, path=f"{directory}/release.json")
    if not record.get("previous"):
        host.log("no previous release recorded: nothing to roll back")
        return
    yield FunctionCommand(_rolled_back_to_previous, (gate, record, directory, project), {})


def _rolled_back_to_previous(state, host, gate, record, directory, project):
    """FunctionCommand body of `release_rolled_back`."""
    current, previous = record["current"], record["previous"]
    kept, aside = f"{directory}/previous", f"{directory}/rollback-aside"
    set_aside = StringCommand(
        "rm", "-rf", QuoteString(aside), "&&", "mkdir", "-m", "700", QuoteString(aside), "&&",
        "cd", QuoteString(kept), "&&", "find", ".", "-type", "f", "-printf", "'/%P\\0'", "|",
        "xargs", "-0", "cp", "-p", "--parents", "-t", QuoteString(aside))
    done, error = _brought_back(host, kept, directory, project, before=(set_aside, "&&"))
    if not done:
        host.log_styled(f"rollback to {previous['version']} failed before the restart: {error}", fg="red")
        return False
    results = _gate_results(gate)
    if not all(result.ok for result in results):
        _brought_back(host, aside, directory, project)
        bad = next(result for result in results if not result.ok)
        host.log_styled(f"rollback to {previous['version']} failed its health probe ({bad.stage}: "
                        f"{bad.error}); {current['version']} was put back", fg="red")
        return False
    entry = {**previous, "healthy_at": _now()}
    swapped, output = host.run_shell_command(StringCommand(
        "rm", "-rf", QuoteString(kept), "&&", "mv", QuoteString(aside), QuoteString(kept), "&&",
        _json_written(f"{directory}/release.json", {"current": entry, "previous": current})))
    host.log(f"rolled back: {current['version']} -> {previous['version']} ({previous['image']}), healthy")
    return swapped


@dataclass(frozen=True)
class Gate:
    """How a release is probed: instance URLs, probe mode, TLS policy and timeouts (s).

    + slow_start: callable, true at execution time when the server's start does extra
      work first (the GPU server's TorchScript export); the start timeout then grows by
      ``slow_start_timeout``
    """

    urls: tuple
    mode: str
    tls: object
    start_timeout: float
    probe_timeout: float
    slow_start: object = None
    slow_start_timeout: float = 0

    def start_seconds(self):
        """The start timeout for this execution."""
        slow = self.slow_start is not None and self.slow_start()
        return self.start_timeout + (self.slow_start_timeout if slow else 0)


def _gate_results(gate):
    """Probe every instance of ``gate``, each waiting up to its start timeout; the results."""
    start_timeout = gate.start_seconds()
    return [wait_until_healthy(url, mode=gate.mode, tls=gate.tls, start_timeout=start_timeout,
                               probe_timeout=gate.probe_timeout) for url in gate.urls]


def _brought_back(host, backup_dir, directory, project, before=()):
    """Restore the files of a `managed_paths` backup and bring compose up (``before``: command
    parts run first); returns ``(ok, stderr tail)``."""
    done, output = host.run_shell_command(StringCommand(
        *before, _restored(backup_dir), "&&", _compose(directory, project, "up", "-d", "--remove-orphans")))
    return done, " ".join(output.stderr_lines)[-300:]


def _models_pruned(models_dir, keep, marker=MANIFEST):
    """Command removing the directories ``<owner>/<name@...>`` of ``models_dir`` that hold
    ``marker`` (model revisions: their manifest; GPU export copies: their marker) and are
    not in ``keep``: those no release on the host uses."""
    script = (f'cd "$1" || exit 0; shift; for m in */*/{marker}; do [ -f "$m" ] || continue; '
              'd=${m%/*}; keep=; for k in "$@"; do [ "$d" = "$k" ] && keep=1; done; '
              '[ -n "$keep" ] || rm -rf -- "$d"; done')
    return StringCommand("sh", "-c", QuoteString(script), "prune", QuoteString(models_dir),
                         *(QuoteString(name) for name in sorted(keep)))


def _now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")


def _json_written(path, data):
    text = json.dumps(data, indent=2, sort_keys=True)
    return StringCommand("printf", "'%s\\n'", QuoteString(text), ">", QuoteString(f"{path}.tmp"),
                         "&&", "mv", QuoteString(f"{path}.tmp"), QuoteString(path))


def _compose(directory, project, *args):
    return StringCommand("docker", "compose", "--project-directory", QuoteString(directory),
                         "--project-name", QuoteString(project), *args)


def _rolled_back(state, host, gate, release, previous, failures, directory, project):
    """FunctionCommand body: restore the kept release, bring it up, probe it, fail the host."""
    for url, result in failures:
        host.log_styled(f"FunASR {release['version']} unhealthy at {url}: {result.stage}: "
                        f"{result.error}", fg="red")
    kept = f"{directory}/previous"
    done, error = _brought_back(host, kept, directory, project, before=(
        "[", "-f", QuoteString(f"{kept}{directory}/compose.yaml"), "]", "&&"))
    if not done:
        host.log_styled(f"ROLLBACK FAILED: could not restore {previous['version']} from {kept}: "
                        f"{error}", fg="red")
        return False
    healthy = _gate_results(gate)
    first = failures[0][1]
    back = ("healthy again" if all(result.ok for result in healthy)
            else "STILL UNHEALTHY: " + "; ".join(f"{r.stage}: {r.error}" for r in healthy if not r.ok))
    host.log_styled(f"ROLLED BACK: {release['version']} ({release['image']}) failed its health probe "
                    f"({first.stage}: {first.error}); restored {previous['version']} "
                    f"({previous['image']}), {back}. No further wave starts.", fg="red")
    return False


def _report_unhealthy(state, host, failures, directory, project):
    """FunctionCommand body: log why probes failed and the server log tail; fail the host."""
    for url, result in failures:
        host.log_styled(f"FunASR unhealthy at {url}: {result.stage}: {result.error}", fg="red")
    _, output = host.run_shell_command(_compose(directory, project, "logs", "--no-color", "--tail", "20"))
    for line in output.stdout_lines + output.stderr_lines:
        host.log(f"  server log | {line}")
    return False


@operation()
def apt_keyring(url, fingerprint, path):
    """
    Install an apt repository signing key, refusing one with the wrong fingerprint.

    + url: where the key is published (overridable for mirrors)
    + fingerprint: the 40-hex-digit fingerprint the key must have
    + path: keyring file for ``signed-by=`` (``.asc`` for an armored key)

    The key is downloaded to a temporary file on the host and moved into place only
    when ``gpg --show-keys`` reports the expected fingerprint; otherwise the operation
    fails and the previous keyring (if any) stays.

    **Example:**

    .. code:: python

        apt_keyring(url="https://download.docker.com/linux/debian/gpg",
                    fingerprint="9DC858229FC7DD38854AE2D88D81803C0EBFCD88",
                    path="/etc/apt/keyrings/docker.asc")
    """
    if fingerprint in host.get_fact(KeyringFingerprints, path=path):
        return
    temporary = f"{path}.funasr-fleet-new"
    directory = path.rpartition("/")[0] or "/"
    yield StringCommand("install", "-d", "-m", "755", QuoteString(directory))
    yield StringCommand("curl", "-fsSL", "--retry", "3", "-o", QuoteString(temporary), QuoteString(url))
    yield StringCommand(
        "if", "gpg", "--show-keys", "--with-colons", QuoteString(temporary),
        "|", "awk", "-F:", QuoteString('$1 == "fpr" {print $10}'), "|", "grep", "-qx",
        QuoteString(fingerprint), ";", "then", "chmod", "644", QuoteString(temporary), "&&",
        "mv", "-f", QuoteString(temporary), QuoteString(path), ";", "else", "rm", "-f",
        QuoteString(temporary), ";", "echo", QuoteString(
            f"key at {url} does not have fingerprint {fingerprint}; refusing it"),
        ">&2", ";", "exit", "1", ";", "fi",
    )
