"""Deploy wiring: what a named deploy adds to a run, before anything connects to a host."""

from pyinfra.api import Config, State
from pyinfra.context import ctx_host, ctx_state

from funasr_fleet.deploys.firewall import service_firewall
from funasr_fleet.settings import load_settings
from helpers import make_inventory


def operations_added(deploy, **data):
    """Names of the operations ``deploy(settings)`` adds for one host with ``data``."""
    state = State(check_for_changes=False)
    state.init(make_inventory([("h1", data)]), Config())
    host = state.inventory.get_host("h1")
    with ctx_state.use(state), ctx_host.use(host):
        deploy(load_settings(host))
    return [state.get_op_meta(op_hash).names.pop() for op_hash in state.get_op_order()], state, host


def test_the_default_allow_list_adds_no_firewall_operation_and_so_no_remote_command():
    names, _, _ = operations_added(service_firewall)
    assert names == []


def test_an_allow_list_installs_nftables_before_the_waves():
    """Before the waves only the package: the ruleset is part of the host's release."""
    names, state, _ = operations_added(service_firewall, funasr_allow_from=["10.0.0.0/8"])
    assert names == ["FunASR firewall | nftables"]


def test_the_gate_waits_the_export_timeout_longer_when_the_gpu_export_copy_was_made_in_this_run():
    from funasr_fleet.gate import gate_for

    gpu = load_settings(make_inventory([("h1", {
        "funasr_profile": "offline-gpu", "funasr_version": "0.2.1", "funasr_start_timeout": 60,
        "funasr_gpu_export_timeout": 900})]).get_host("h1"))
    assert gate_for(gpu, lambda: True).start_seconds() == 960  # the next start exports first
    assert gate_for(gpu, lambda: False).start_seconds() == 60
    assert gate_for(gpu).start_seconds() == 60  # rollback.py: no copy is made
