"""Manage a host's release: record a healthy one, roll a sick one back, roll back on demand."""

import datetime
import json

from pyinfra import host
from pyinfra.api import FunctionCommand, StringCommand, operation
from pyinfra.api.command import QuoteString

from ..facts.batch import read, reads
from ..facts.docker import ComposeProject
from ..facts.nvidia import EXPORT_MARKER
from ..facts.release import ReleaseRecord
from ..gate import gate_results, remember_ahead, results_ahead
from ..models import MANIFEST
from ..pyinfra_internals import current_host, host_changed
from ..render import EXPORTS_DIR
from .files import backup_restored

# How many of a failed server's last log lines its failure line carries.
SERVER_LOG_LINES = 5


@reads(lambda gate, release, directory, project, **_: [
    (ReleaseRecord, {"path": f"{directory}/release.json"}),
    (ComposeProject, {"project": project, "image": release["image"]})])
@operation()
def release_healthy(gate, release, directory, project, ahead=False):
    """
    Probe each server instance until it answers; record a healthy release, roll back a sick one.

    + gate: a `funasr_fleet.gate.Gate` (instance URLs, probe mode, TLS policy, timeouts)
    + release: ``{"version", "image", "config_sha256", "models"}`` of the configuration
      just applied (``models``: its model directories below ``<directory>/models``)
    + directory, project: the service directory and compose project on the host
    + ahead: an earlier wave's gate, on a host of a later wave: a host that already runs
      ``release`` (its record says so) and has not changed in this run is probed now,
      with that wave's hosts, and a healthy result answers its own wave's gate (within
      `funasr_fleet.gate.AHEAD_FRESH_SECONDS`, while the host is still unchanged); nothing
      else happens here. A converge that changes nothing so probes every server in one
      round.

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
    current = read(ReleaseRecord, path=f"{directory}/release.json").get("current") or {}
    unchanged = (current.get("config_sha256") == release["config_sha256"]
                 and not host_changed(host.state, host))
    if ahead:
        results = gate_results(gate) if unchanged else ()
        if results and all(result.ok for result in results):
            remember_ahead(current_host(), release["config_sha256"], results)
        return
    kept = results_ahead(current_host(), release["config_sha256"]) if unchanged else None
    failures = []
    for url, result in zip(gate.urls, kept or gate_results(gate)):
        if result.ok:
            host.log(f"FunASR healthy at {url}: final result in {result.latency_s:.2f}s"
                     + (" (probed with an earlier wave)" if kept else ""))
        else:
            failures.append((url, result))
    if current.get("config_sha256") == release["config_sha256"]:
        if failures:
            yield FunctionCommand(_report_unhealthy, (failures, directory, project), {})
        return
    # The fact compose_up reads too (one read in a host's batch).
    containers = read(ComposeProject, project=project, image=release["image"])["containers"]
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


@reads(lambda gate, directory, project, **_: [(ReleaseRecord, {"path": f"{directory}/release.json"})])
@operation()
def release_rolled_back(gate, directory, project):
    """
    Put the host back on the previous release its release record names, then probe it.

    + gate: a `funasr_fleet.gate.Gate` (instance URLs, probe mode, TLS policy, timeouts)
    + directory, project: the service directory and compose project on the host

    The current release's files are set aside, the ones kept in ``previous/`` restored,
    compose brings the previous release up and it is probed. Healthy: the record swaps
    current and previous (so does ``previous/``). Unhealthy: the current release is put
    back and the host fails. A host without a previous release is left alone.

    **Example:**

    .. code:: python

        release_rolled_back(gate=gate, directory="/opt/funasr", project="funasr")
    """
    record = read(ReleaseRecord, path=f"{directory}/release.json")
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
    results = gate_results(gate)
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


def _brought_back(host, backup_dir, directory, project, before=()):
    """Restore the files of a `managed_paths` backup and bring compose up (``before``: command
    parts run first); returns ``(ok, stderr tail)``."""
    done, output = host.run_shell_command(StringCommand(
        *before, backup_restored(backup_dir), "&&",
        _compose(directory, project, "up", "-d", "--remove-orphans")))
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


def server_words(host, directory, project, lines=SERVER_LOG_LINES):
    """The servers' own account of a failure, read before anything is restored: each
    container's restart count and state, and the last ``lines`` lines of its log (where
    FunASR says why it exits, e.g. ``.../TLG.fst do not exists.``), as one line."""
    _, states = host.run_shell_command(StringCommand(
        _compose(directory, project, "ps", "-aq"), "|", "xargs", "-r", "docker", "inspect", "--format",
        QuoteString("{{.Name}} restarts {{.RestartCount}}, {{.State.Status}} (exit {{.State.ExitCode}})")))
    _, logs = host.run_shell_command(StringCommand(
        _compose(directory, project, "logs", "--no-color", "--no-log-prefix", "--tail", str(lines)), "2>&1"))
    said = " | ".join(line.strip() for line in logs.stdout_lines if line.strip())[-600:]
    containers = "; ".join(line.strip().lstrip("/") for line in states.stdout_lines if line.strip())
    return f"server: {containers or 'no container'}; its log: {said or '(empty)'}"


def _rolled_back(state, host, gate, release, previous, failures, directory, project):
    """FunctionCommand body: restore the kept release, bring it up, probe it, fail the host."""
    words = server_words(host, directory, project)
    for url, result in failures:
        host.log_styled(f"FunASR {release['version']} unhealthy at {url}: {result.stage}: "
                        f"{result.error}; {words}", fg="red")
    kept = f"{directory}/previous"
    done, error = _brought_back(host, kept, directory, project, before=(
        "[", "-f", QuoteString(f"{kept}{directory}/compose.yaml"), "]", "&&"))
    if not done:
        host.log_styled(f"ROLLBACK FAILED: could not restore {previous['version']} from {kept}: "
                        f"{error}", fg="red")
        return False
    healthy = gate_results(gate)
    first = failures[0][1]
    back = ("healthy again" if all(result.ok for result in healthy)
            else "STILL UNHEALTHY: " + "; ".join(f"{r.stage}: {r.error}" for r in healthy if not r.ok))
    host.log_styled(f"ROLLED BACK: {release['version']} ({release['image']}) failed its health probe "
                    f"({first.stage}: {first.error}; {words}); restored {previous['version']} "
                    f"({previous['image']}), {back}. No further wave starts.", fg="red")
    return False


def _report_unhealthy(state, host, failures, directory, project):
    """FunctionCommand body: log why probes failed, with the servers' own words; fail the host."""
    words = server_words(host, directory, project)
    for url, result in failures:
        host.log_styled(f"FunASR unhealthy at {url}: {result.stage}: {result.error}; {words}", fg="red")
    return False
