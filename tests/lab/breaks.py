"""
Switches that turn one claimed behaviour off in the lab's pyinfra runs, so that the lab
test of each fault-table row (docs/faults.md) can be shown to fail without it.

    FUNASR_LAB_BREAK=drain pytest -m lab tests/lab/test_zero_downtime.py   # must fail

With ``FUNASR_LAB_BREAK`` set, `conftest.Lab.deploy` runs pyinfra through
tests/lab/pyinfra_with_breaks.py, which calls `apply` after pyinfra's CLI is imported
and before it loads deploy.py. Each switch replaces one small product function (or adds
one ``--data``); the product itself reads no switch. ``make prove-faults`` runs every
row's test with its switch and expects it to fail.
"""

import sys


def _no_drain():
    """The balancer never marks a server down: no drain before a restart (take-back only)."""
    from funasr_fleet.operations import nginx

    render = nginx.render_balancer
    nginx.render_balancer = lambda name, balancer, down: render(name, balancer, set())


def _no_live_restore():
    """daemon.json without live-restore: a Docker restart stops the containers."""
    sys.argv += ["--data", "docker_live_restore=False"]


def _no_restart_policy():
    """compose.yaml with ``restart: "no"``: a crashed server stays down."""
    from funasr_fleet.deploys import service

    render = service.render_compose

    def no_restart(settings, *args, **kwargs):
        policy = f"restart: \"{settings.funasr_restart_policy}\""
        return render(settings, *args, **kwargs).replace(policy, 'restart: "no"')
    service.render_compose = no_restart


def _no_recreate():
    """compose_up takes any project state for the release: a removed container stays removed."""
    from funasr_fleet.operations import docker

    docker._runs_release = lambda project_state, config_sha256, services: True


def _unreachable_stops_rollout():
    """A host unreachable at the start counts as failed: no wave changes any host."""
    from funasr_fleet.deploys import rollout

    rollout.rollout_stopped = lambda failed, unreachable: bool(failed)


def _no_stop_after_failure():
    """Later waves go on after a host failed."""
    from funasr_fleet.deploys import rollout

    rollout.rollout_stopped = lambda failed, unreachable: False


def _no_rollback():
    """A failed gate restores nothing (the files and containers of the failed release stay)."""
    from funasr_fleet.operations import release

    release._brought_back = lambda host, backup_dir, directory, project, before=(): (True, "")


def _no_daemon_json_restore():
    """Docker that does not come back with a new daemon.json keeps it (no restore)."""
    from funasr_fleet.operations import docker

    docker._daemon_json_restored = lambda host, path: None


def _no_reset_failed():
    """A unit's failed state is not seen: systemd's start limit is never reset."""
    from funasr_fleet.operations import systemd

    class NeverFailed(systemd.SystemdUnitState):
        def process(self, output):
            return {**super().process(output), "failed": False}
    systemd.SystemdUnitState = NeverFailed


def _no_server_words():
    """Gate failures without the servers' own words (log lines, restart count)."""
    from funasr_fleet.operations import release

    release.server_words = lambda host, directory, project, lines=5: "server: (not read)"


def _no_firewall_check():
    """A ruleset is kept even when it drops the control node's probe."""
    from funasr_fleet.operations import nftables

    nftables.reaches = lambda url, timeout=5.0: True


SWITCHES = {
    "drain": _no_drain,
    "live-restore": _no_live_restore,
    "restart-policy": _no_restart_policy,
    "recreate": _no_recreate,
    "unreachable-stops-rollout": _unreachable_stops_rollout,
    "stop-after-failure": _no_stop_after_failure,
    "rollback": _no_rollback,
    "daemon-json-restore": _no_daemon_json_restore,
    "reset-failed": _no_reset_failed,
    "firewall-check": _no_firewall_check,
    "server-words": _no_server_words,
}


def apply(names):
    """Turn off each behaviour in ``names`` (comma-separated); an unknown name is an error."""
    for name in filter(None, (part.strip() for part in names.split(","))):
        if name not in SWITCHES:
            raise SystemExit(f"FUNASR_LAB_BREAK: no switch {name!r}; known: {', '.join(SWITCHES)}")
        SWITCHES[name]()
