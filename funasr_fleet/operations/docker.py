"""Manage Docker: daemon.json (checked, restored on failure), images, compose projects."""

import json
import re
import time
from io import BytesIO

from pyinfra import host
from pyinfra.api import FunctionCommand, StringCommand, operation
from pyinfra.api.command import FileUploadCommand, QuoteString

from ..digest import sha256_bytes
from ..facts.apt import DebPackageVersions
from ..facts.batch import read, reads
from ..facts.docker import ComposeProject, DockerImageId
from ..facts.files import PathStates
from ..pyinfra_internals import ssh_exec
from .files import show_diff


DAEMON_JSON = "/etc/docker/daemon.json"
# How long a restarted dockerd may take to answer `docker info` before it counts as failed.
DOCKER_START_SECONDS = 60


@reads(lambda text, path=DAEMON_JSON, **_: [(PathStates, {"paths": [path]})])
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
    state = read(PathStates, paths=[path]).get(path) or {}
    if state.get("sha256") == sha256_bytes(text.encode("utf-8")):
        if state.get("mode") != "644":
            yield StringCommand("chmod", "644", QuoteString(path))
        return
    show_diff(path, text.encode("utf-8"))
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


@reads(lambda image, **_: [(DockerImageId, {"image": image})])
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
    if read(DockerImageId, image=image):
        return
    if username:
        registry = image.split("/", 1)[0]
        yield StringCommand("docker", "login", "--username", QuoteString(username),
                            "--password-stdin", QuoteString(registry), _stdin=password.unmask())
    yield StringCommand("docker", "pull", QuoteString(image))


@reads(lambda tarball, **_: [(DockerImageId, {"image": tarball.image}),
                                (DockerImageId, {"image": tarball.image_id})])
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
    if read(DockerImageId, image=tarball.image) == tarball.image_id:
        return
    if read(DockerImageId, image=tarball.image_id) != tarball.image_id:
        yield FunctionCommand(_stream_docker_load, (tarball,), {})
    yield StringCommand("docker", "tag", tarball.image_id, QuoteString(tarball.image))


def _stream_docker_load(state, host, tarball):
    """FunctionCommand body: pipe the tarball into ``docker load``, then check the image ID."""
    streams = ssh_exec(state, host, StringCommand("docker", "load"))
    if streams is None:
        remote = f"/tmp/funasr-fleet-{tarball.path.name}"
        host.put_file(str(tarball.path), remote)
        loaded, _ = host.run_shell_command(StringCommand("docker", "load", "-i", remote, "&&",
                                                         "rm", "-f", remote))
    else:
        stdin, stdout, stderr = streams
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


@reads(lambda project_dir, project, config_sha256, image, **_: [
    (ComposeProject, {"project": project, "image": image})])
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
    if _runs_release(read(ComposeProject, project=project, image=image),
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


def _restart_pending_reads(project, image, services, config_sha256=None, daemon_json=None,
                           pinned=None, **_):
    """The facts `restart_pending` reads."""
    return ([(ComposeProject, {"project": project, "image": image})]
            + ([(PathStates, {"paths": [DAEMON_JSON]})] if daemon_json is not None else [])
            + ([(DebPackageVersions, {"packages": list(pinned)})] if pinned else []))


@reads(_restart_pending_reads)
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
            read(ComposeProject, project=project, image=image), config_sha256, services):
        reasons.append(f"servers restart next: {', '.join(services)}")
    if daemon_json is not None and (read(PathStates, paths=[DAEMON_JSON]).get(DAEMON_JSON)
                                    or {}).get("sha256") != sha256_bytes(daemon_json.encode("utf-8")):
        reasons.append("Docker restarts next: daemon.json changes")
    if pinned:
        installed = read(DebPackageVersions, packages=list(pinned))
        upgrades = sorted(name for name, version in pinned.items()
                          if name in installed and installed[name] != version)
        if upgrades:
            reasons.append(f"Docker restarts next: {', '.join(upgrades)} change version")
    if reasons:
        yield FunctionCommand(_say, ("; ".join(reasons),), {})


def _say(state, host, message):
    host.log(message)
    return True
