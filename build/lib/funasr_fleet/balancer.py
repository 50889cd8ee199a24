"""
The fleet's optional TCP load balancer: which servers it fronts, where it listens.

Hosts in the ``funasr_lb_group`` inventory group (default ``lb``) run nginx's stream
module instead of a FunASR server. A balancer fronts every server instance of the hosts
whose ``funasr_profile`` equals its own; during a rollout a server about to restart is
marked ``down`` (drained) and put back after its health gate passed (deploys.rollout.waves).

    balancer = fleet_balancer(inventory, settings)   # None: the fleet has no balancer
    balancer.active                                  # this host runs it
"""

import shlex
from dataclasses import dataclass

from .errors import SettingsError
from .settings import load_settings


@dataclass(frozen=True)
class Backend:
    """One server instance behind the balancer: its inventory host and ``address:port``."""

    host: str
    server: str


@dataclass(frozen=True)
class Balancer:
    """The fleet's load balancer, seen from one host.

    + active: this host runs the balancer (others carry its operations as no-ops, so
      every host's operation chain orders drains and gates the same way)
    + profile: the server profile it fronts
    + backends: `Backend` items, inventory order (empty where not active)
    + port: where it listens
    + drain_timeout: seconds a drained server's sessions may take to finish
    + names: the balancer hosts' names and addresses, as clients reach them (they go into
      the servers' generated certificates: TLS passes through the balancer)
    """

    active: bool
    profile: str
    backends: tuple
    port: int
    drain_timeout: float
    names: tuple = ()


def balancer_hosts(inventory, group):
    """Names of the inventory's hosts in the balancer group (``[]`` when there is none)."""
    return [host.name for host in inventory.groups.get(group, ())]


def fleet_balancer(inventory, settings):
    """The `Balancer` as ``settings``' host sees it, or None when the fleet has none.

    + inventory: the pyinfra inventory
    + settings: this host's `Settings` (the balancer group is fleet-wide)

    Raises `SettingsError` (before any host changes) when a balancer would front no server.

    **Example:**

    .. code:: python

        balancer = fleet_balancer(inventory, settings)
        if balancer and balancer.active:
            ...  # install and configure nginx
    """
    group = settings.funasr_lb_group
    if not balancer_hosts(inventory, group):
        return None
    names = tuple(dict.fromkeys(name for host in inventory.groups[group]
                                for name in (host.name, host.data.get("ssh_hostname"),
                                             host.data.get("funasr_probe_address")) if name))
    if not settings.is_balancer:
        return Balancer(active=False, profile=settings.funasr_profile, backends=(),
                        port=settings.funasr_lb_port, drain_timeout=settings.funasr_lb_drain_timeout,
                        names=names)
    backends = []
    for host in inventory:
        if group in host.groups:
            continue
        server = load_settings(host)
        if server.funasr_profile == settings.funasr_profile:
            backends += [Backend(host.name, f"{server.balancer_address}:{instance.port}")
                         for instance in server.instances]
    if not backends:
        raise SettingsError(
            f"{settings.host}: funasr_profile = {settings.funasr_profile!r}, but no server host "
            f"(outside group {group!r}) has that profile, so this load balancer would front "
            "nothing; set the balancer group's funasr_profile to its servers' profile. Nothing "
            "was changed on any host.")
    return Balancer(active=True, profile=settings.funasr_profile, backends=tuple(backends),
                    port=settings.funasr_lb_port, drain_timeout=settings.funasr_lb_drain_timeout,
                    names=names)


def check_limit(inventory, limit, command):
    """Refuse a run whose ``--limit``/``--exclude`` leaves out a load balancer in front of
    servers the run targets: their restarts could not be drained (the balancer's
    operations run only on hosts in the run).

    + inventory: the pyinfra inventory
    + limit: the hosts the run targets (pyinfra's ``state.limit_hosts``; None: all)
    + command: the run's command line (``sys.argv``), for the corrected command

    Raises `SettingsError` with the command to run instead, before any host changes.
    """
    if limit is None:
        return
    targeted = {host.name for host in limit}
    for group in sorted({load_settings(host).funasr_lb_group for host in inventory}):
        balancers = [host for host in inventory.groups.get(group, ())]
        missing = [host.name for host in balancers if host.name not in targeted]
        if not missing:
            continue
        profiles = {load_settings(host).funasr_profile for host in balancers}
        behind = [host.name for host in limit if group not in host.groups
                  and load_settings(host).funasr_profile in profiles]
        if behind:
            fixed = " ".join(["pyinfra", *map(shlex.quote, command[1:]), "--limit", group])
            raise SettingsError(
                f"--limit leaves out the load balancer {', '.join(missing)} (group {group!r}) in front "
                f"of {', '.join(behind)}: their servers would restart without a drain. Run it with "
                f"the balancer: {fixed}. Nothing was changed on any host.")
