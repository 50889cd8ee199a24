"""Manage systemd units."""

from pyinfra import host
from pyinfra.api import StringCommand, operation
from pyinfra.api.command import QuoteString

from ..facts.batch import read, reads
from ..facts.systemd import SystemdUnitState


@reads(lambda unit, restart=False, **_: [] if restart else [(SystemdUnitState, {"unit": unit})])
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
    state = read(SystemdUnitState, unit=unit)
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
