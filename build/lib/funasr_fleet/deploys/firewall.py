"""
The service firewall (``funasr_allow_from``), with nftables: the package before the
waves (`service_firewall`), the ruleset and its boot unit in the host's wave
(`firewall_changes`).
"""

from dataclasses import dataclass

from pyinfra.api import deploy

from ..digest import rendered_with_digest
from ..operations.apt import packages_installed
from ..operations.files import managed_paths
from ..operations.nftables import nft_table_loaded
from ..operations.systemd import unit_running
from ..render import FIREWALL_TABLE, render_firewall, render_firewall_unit


# The firewall (funasr_allow_from): its ruleset file and the unit that loads it at boot.
FIREWALL_DIR = "/etc/funasr-fleet"
FIREWALL_RULESET = f"{FIREWALL_DIR}/firewall.nft"
FIREWALL_UNIT = "funasr-fleet-firewall.service"


@dataclass(frozen=True)
class FirewallRelease:
    """The ruleset a host's wave loads (`service_firewall` returns it)."""

    text: str
    config_sha256: str


@deploy("FunASR firewall")
def service_firewall(settings):
    """
    Prepare the firewall that opens the service port(s) only to ``funasr_allow_from``
    (and loopback), with nftables: the package now, the ruleset in the host's wave
    (`firewall_changes`). Returns its `FirewallRelease`, or None.

    + settings: the host's `Settings`

    Empty ``funasr_allow_from`` (the default): no firewall is managed and no operation
    is added, so a converge pays no remote command for it. Otherwise the ruleset
    (templates/firewall.nft.j2: table ``inet funasr_fleet``, a forward-hook chain for
    Docker's DNATed published ports, an input-hook chain for docker-proxy) is loaded in
    the wave when the live table lacks its digest, and a oneshot unit loads it at boot
    (not nftables.service, whose ``flush ruleset`` would drop Docker's rules too).
    """
    if not settings.funasr_allow_from:
        return None
    ruleset, config_sha256 = rendered_with_digest(lambda digest: render_firewall(settings, digest))
    packages_installed(name="nftables", packages=["nftables"])
    return FirewallRelease(text=ruleset, config_sha256=config_sha256)


def firewall_changes(settings, firewall, label, go):
    """
    The host's firewall, in its wave: the ruleset loaded (undone on the spot when it
    drops this control node's probe, failing the host), then its boot unit.

    + settings: the host's `Settings`
    + firewall: its `FirewallRelease` (`service_firewall`), or None: nothing to do
    + label, go: the wave's label and condition (`rollout.waves`)
    """
    if firewall is None:
        return
    nft_table_loaded(name=f"{label}: firewall table {FIREWALL_TABLE} (probe checked)",
                     path=FIREWALL_RULESET, table=FIREWALL_TABLE, text=firewall.text,
                     config_sha256=firewall.config_sha256,
                     probe_urls=[instance.probe_url for instance in settings.instances], _if=go)
    managed_paths(
        name=f"{label}: firewall loaded at boot (unit file)",
        files=[(f"/etc/systemd/system/{FIREWALL_UNIT}", render_firewall_unit(FIREWALL_RULESET), "644")],
        _if=go)
    unit_running(name=f"{label}: firewall loaded at boot", unit=FIREWALL_UNIT, _if=go)
