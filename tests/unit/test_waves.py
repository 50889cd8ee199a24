"""Wave planning: canary then serial-like batches, deterministic, every host once."""

import pytest

from funasr_fleet.errors import SettingsError
from funasr_fleet.settings import check_inventory
from funasr_fleet.waves import inventory_plan, plan_waves
from helpers import make_inventory

HOSTS = [f"h{i}" for i in range(1, 11)]


@pytest.mark.parametrize("canary, waves, expected", [
    (1, ["50%"], [["h1"], HOSTS[1:6], HOSTS[6:]]),
    (1, [1, 5, "25%"], [["h1"], ["h2"], HOSTS[2:7], HOSTS[7:9], HOSTS[9:]]),
    (0, [3], [HOSTS[0:3], HOSTS[3:6], HOSTS[6:9], HOSTS[9:]]),
    (2, ["100%"], [HOSTS[:2], HOSTS[2:]]),
    (0, ["1%"], [[name] for name in HOSTS]),  # a percentage is at least one host
])
def test_plans_cover_every_host_once_in_inventory_order(canary, waves, expected):
    plan = plan_waves(HOSTS, canary, waves)
    assert plan == expected
    assert [name for wave in plan for name in wave] == HOSTS


def test_a_group_canary_goes_first_and_the_rest_keep_their_order():
    plan = plan_waves(HOSTS, "canary", [4], groups={"canary": {"h3", "h7"}})
    assert plan == [["h3", "h7"], ["h1", "h2", "h4", "h5"], ["h6", "h8", "h9", "h10"]]


def test_inventory_plan_reads_the_fleet_wide_knobs():
    from funasr_fleet.settings import load_settings

    inventory = make_inventory([(name, {}) for name in ("a", "b", "c")],
                               override={"funasr_waves": [1]})
    assert inventory_plan(inventory, load_settings(inventory.get_host("a"))) == [["a"], ["b"], ["c"]]


def test_a_limited_run_plans_its_own_hosts_canary_first():
    from funasr_fleet.settings import load_settings

    inventory = make_inventory([(name, {}) for name in ("a", "b", "c", "d", "e")],
                               override={"funasr_waves": ["50%"]})
    settings = load_settings(inventory.get_host("a"))
    limit = [inventory.get_host(name) for name in ("c", "d", "e")]  # --limit c,d,e
    # the canary is the run's first host, and 50% is of the 3 hosts in the run
    assert inventory_plan(inventory, settings, limit) == [["c"], ["d"], ["e"]]
    assert inventory_plan(inventory, settings) == [["a"], ["b", "c"], ["d", "e"]]


def test_rollout_knobs_must_agree_across_hosts():
    inventory = make_inventory([("a", {}), ("b", {"funasr_canary": 2})])
    with pytest.raises(SettingsError, match="b: funasr_canary = 2 .*differs from the other hosts. 1"):
        check_inventory(inventory)


@pytest.mark.parametrize("key, value", [("funasr_waves", ["0%"]), ("funasr_waves", [0]),
                                        ("funasr_waves", []), ("funasr_canary", -1),
                                        ("funasr_canary", "not a group!")])
def test_bad_rollout_values(key, value):
    with pytest.raises(SettingsError, match=key):
        check_inventory(make_inventory([("a", {key: value})]))


def test_each_wave_gate_runs_before_the_next_wave_changes_any_host(monkeypatch):
    """pyinfra's global op order, as the deploy builds it (operations identified by where
    they are called, as under pyinfra's CLI): every host carries every wave's gate (so
    each host's chain orders the waves), and the operations that change a host only in
    its own wave (so a host's operations do not grow with the waves)."""
    from funasr_fleet.deploys.rollout import funasr_release

    inventory = make_inventory([(name, {}) for name in ("a", "b", "c", "d")],
                               override={"funasr_tls": "off"})  # no certificate needed for the order
    order, state = release_order(inventory, lambda settings, plan, balancer: funasr_release(
        settings, [], plan, balancer), monkeypatch)
    names = [name for name, _ in order]
    assert names == [f"Wave {w}/3: {step}" for w in (1, 2, 3) for step in (
        "FunASR configuration files (previous kept)", "FunASR server running this configuration",
        "health gate (real utterance)")]
    waves = {"a": 1, "b": 2, "c": 2, "d": 3}  # canary 1, then 50% of 4
    for (name, op_hash) in order:
        wave = int(name.split("Wave ")[1][0])
        on = {host.name for host in inventory if op_hash in state.ops[host]}
        assert on == ({"a", "b", "c", "d"} if "health gate" in name
                      else {host for host, its in waves.items() if its == wave}), name
        for host in inventory:
            if host.name in on:
                applies = state.ops[host][op_hash].global_arguments["_if"]()
                # The first wave's gate runs on every host: the later waves' hosts that
                # already run the release are probed ahead, in the same round.
                ahead = "health gate" in name and wave == 1 and waves[host.name] != 1
                assert applies == (waves[host.name] == wave or ahead), (name, host.name)
    # Each host carries 3 gates and its own wave's 2 changes: not 3 waves x 3 operations.
    assert {len(state.ops[host]) for host in inventory} == {5}


def release_order(inventory, release, monkeypatch):
    """Register ``release(settings, plan, balancer)`` on every host as the pyinfra CLI does
    (operations identified by where they are called); the global op order as
    ``(op name without the deploy prefix, op hash)`` pairs, and pyinfra's state."""
    import pyinfra
    from pyinfra.api import Config, State
    from pyinfra.context import ctx_host, ctx_state

    from funasr_fleet.balancer import fleet_balancer
    from funasr_fleet.settings import load_settings

    from pyinfra.api.state import StateStage

    monkeypatch.setattr(pyinfra, "is_cli", True)
    state = State(check_for_changes=False)
    state.init(inventory, Config())
    state.set_stage(StateStage.Prepare)
    with ctx_state.use(state):
        for host in inventory:
            with ctx_host.use(host):
                settings = load_settings(host)
                release(settings, inventory_plan(inventory, settings), fleet_balancer(inventory, settings))
    order = [(state.get_op_meta(op_hash).names.pop().split(" | ", 1)[1], op_hash)
             for op_hash in state.get_op_order()]
    return order, state


def test_with_a_load_balancer_each_wave_is_drained_before_it_changes_and_taken_back_after_its_gate(
        monkeypatch):
    from funasr_fleet.deploys.rollout import funasr_release

    inventory = make_inventory([(name, {}) for name in ("a", "b", "c", "lb1")],
                               groups={"lb": (["lb1"], {})}, override={"funasr_tls": "off"})
    order, state = release_order(inventory, lambda settings, plan, balancer: funasr_release(
        settings, [], plan, balancer), monkeypatch)
    assert [name for name, _ in order] == [f"Wave {w}/3: {step}" for w in (1, 2, 3) for step in (
        "servers about to restart", "load balancer drains the servers about to restart",
        "FunASR configuration files (previous kept)", "FunASR server running this configuration",
        "health gate (real utterance)", "load balancer takes the healthy servers back")]
    for name, op_hash in order:
        on = {host.name for host in inventory if op_hash in state.ops[host]}
        # the balancer's operations and the restart check are on every host (so every
        # host's chain orders them), the gate on every server; a server's changes only
        # on the servers of that wave
        wave = int(name.split("Wave ")[1][0])
        assert on == ({"a", "b", "c", "lb1"} if "restart" in name or "load balancer" in name
                      else {"a", "b", "c"} if "health gate" in name
                      else {["a", "b", "c"][wave - 1]}), name  # waves: a, b, c


def test_the_balancer_is_not_in_any_wave():
    from funasr_fleet.settings import load_settings

    inventory = make_inventory([(name, {}) for name in ("a", "b", "lb1")], groups={"lb": (["lb1"], {})})
    assert inventory_plan(inventory, load_settings(inventory.get_host("lb1"))) == [["a"], ["b"]]


def test_engine_and_firewall_changes_are_in_each_hosts_wave_after_the_drain_before_its_servers(
        monkeypatch):
    """A new daemon.json, a Docker or NVIDIA toolkit version and the firewall ruleset
    change a host in its own wave, after the balancer drained it and before its gate:
    never on every host at once before the canary."""
    from funasr_fleet.deploys.docker import EngineRelease
    from funasr_fleet.deploys.firewall import FirewallRelease
    from funasr_fleet.deploys.rollout import funasr_release

    inventory = make_inventory([(name, {}) for name in ("a", "b", "c", "lb1")],
                               groups={"lb": (["lb1"], {})}, override={"funasr_tls": "off"})
    engine = EngineRelease(daemon_json="{}\n", pinned={"docker.io": "26.1.5+dfsg1-9+b1"})
    firewall = FirewallRelease(text="table inet funasr_fleet {}\n", config_sha256="d" * 64)
    order, state = release_order(inventory, lambda settings, plan, balancer: funasr_release(
        settings, [], plan, balancer, engine=None if settings.is_balancer else engine,
        firewall=None if settings.is_balancer else firewall), monkeypatch)
    assert [name for name, _ in order] == [f"Wave {w}/3: {step}" for w in (1, 2, 3) for step in (
        "servers about to restart", "load balancer drains the servers about to restart",
        "Docker daemon.json (checked; restarted, restored on failure)",
        "Docker Engine at docker_version", "Docker running after the engine change",
        "firewall table inet funasr_fleet (probe checked)", "firewall loaded at boot (unit file)",
        "firewall loaded at boot",
        "FunASR configuration files (previous kept)", "FunASR server running this configuration",
        "health gate (real utterance)", "load balancer takes the healthy servers back")]
    waves = {"a": 1, "b": 2, "c": 3}
    for name, op_hash in order:
        wave = int(name.split("Wave ")[1][0])
        for host in inventory:
            if op_hash in state.ops[host] and "load balancer" not in name and host.name != "lb1":
                applies = state.ops[host][op_hash].global_arguments["_if"]()
                ahead = "health gate" in name and wave == 1 and waves[host.name] != 1
                assert applies == (waves[host.name] == wave or ahead), (name, host.name)
