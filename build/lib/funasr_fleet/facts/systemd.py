"""Read systemd units."""

import shlex

from pyinfra.api import FactBase


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
