"""The optional load balancer: which servers it fronts, its nginx configuration, and the
operations that drain servers during a rollout."""

import pytest

from funasr_fleet.balancer import Backend, Balancer, fleet_balancer
from funasr_fleet.digest import sha256_text
from funasr_fleet.errors import SettingsError
from funasr_fleet.operations.docker import restart_pending
from funasr_fleet.operations.nginx import CONFIG_PATH, balancer_configured
from funasr_fleet.render import render_balancer
from funasr_fleet.settings import load_settings
from helpers import make_inventory, run_operation

BALANCER = Balancer(active=True, profile="2pass", port=10095, drain_timeout=30,
                    backends=(Backend("asr-1", "10.0.0.1:10095"), Backend("asr-2", "10.0.0.2:10095")))


def fleet(hosts, **groups):
    return make_inventory(hosts, groups={"lb": (["lb1"], {}), **groups})


def test_the_balancer_fronts_every_instance_of_the_servers_of_its_profile():
    inventory = fleet([("asr-1", {"ssh_hostname": "10.0.0.1"}),
                       ("asr-2", {"funasr_lb_backend_address": "asr-2.internal"}),
                       ("gpu-1", {"funasr_profile": "offline-gpu", "funasr_version": "0.2.1"}),
                       ("lb1", {})])
    balancer = fleet_balancer(inventory, load_settings(inventory.get_host("lb1")))
    assert balancer.active and balancer.profile == "2pass"
    assert balancer.backends == (Backend("asr-1", "10.0.0.1:10095"), Backend("asr-2", "asr-2.internal:10095"))


def test_servers_see_an_inactive_balancer_and_a_fleet_without_the_group_has_none():
    inventory = fleet([("asr-1", {}), ("lb1", {})])
    seen = fleet_balancer(inventory, load_settings(inventory.get_host("asr-1")))
    assert not seen.active and seen.backends == ()
    plain = make_inventory([("asr-1", {})])
    assert fleet_balancer(plain, load_settings(plain.get_host("asr-1"))) is None


def test_a_balancer_with_no_server_of_its_profile_is_refused_before_any_change():
    inventory = fleet([("asr-1", {"funasr_profile": "offline", "funasr_version": "0.4.6"}), ("lb1", {})])
    with pytest.raises(SettingsError, match="lb1: funasr_profile = '2pass', but no server host"):
        fleet_balancer(inventory, load_settings(inventory.get_host("lb1")))


def test_the_balancer_listens_where_status_and_xiaozhi_reach_it():
    inventory = fleet([("asr-1", {}), ("lb1", {"ssh_hostname": "lb.example", "funasr_lb_port": 9000})])
    settings = load_settings(inventory.get_host("lb1"))
    assert [(i.service, i.port, i.probe_url) for i in settings.instances] == [
        ("balancer", 9000, "wss://lb.example:9000")]  # TLS by default, passed through


def test_drained_servers_are_marked_down_and_named():
    text = render_balancer("lb1", BALANCER, down={"asr-2"})
    assert "server 10.0.0.1:10095 max_fails=2 fail_timeout=10s;  # asr-1\n" in text
    assert "server 10.0.0.2:10095 max_fails=2 fail_timeout=10s down;  # asr-2 (drained)\n" in text
    assert "listen 10095;" in text and "worker_shutdown_timeout 30s;" in text


def test_balancer_configured_is_silent_when_the_file_matches_and_on_servers():
    text = render_balancer("fake-host", BALANCER, down=set())
    commands, host = run_operation(balancer_configured,
                                   {"PathStates": {CONFIG_PATH: {"sha256": sha256_text(text)}}},
                                   balancer=BALANCER, down=set)
    assert commands == [] and len(host.fact_calls) == 1
    inactive = Balancer(active=False, profile="2pass", port=10095, drain_timeout=30, backends=())
    commands, host = run_operation(balancer_configured, {}, balancer=inactive, down={"x"})
    assert commands == [] and host.fact_calls == []


def test_balancer_configured_checks_the_new_file_with_nginx_before_reloading():
    commands, _ = run_operation(balancer_configured, {"PathStates": {}},
                                balancer=BALANCER, down=lambda: {"asr-1"}, drain=True)
    assert len(commands) == 3
    assert commands[0].startswith("FileUploadCommand")
    install = commands[1]
    assert install.index(f"mv -f {CONFIG_PATH}.funasr-fleet-new {CONFIG_PATH}") < install.index("nginx -t")
    assert f"mv -f {CONFIG_PATH}.previous {CONFIG_PATH}" in install  # restored when refused
    assert "_nginx_reloaded" in commands[2] and "30" in commands[2] and "asr-1" in commands[2]


def test_restart_pending_changes_only_when_compose_would_recreate():
    image_id = "sha256:new"
    running = {"containers": [{"status": "running", "image_id": image_id, "labels": {
        "com.docker.compose.service": "funasr", "io.funasr-fleet.config-sha256": "abc"}}],
        "image_id": image_id}
    kwargs = {"project": "funasr", "image": "img:1", "services": ["funasr"]}
    assert run_operation(restart_pending, {"ComposeProject": running},
                         config_sha256="abc", **kwargs)[0] == []
    assert len(run_operation(restart_pending, {"ComposeProject": running},
                             config_sha256="def", **kwargs)[0]) == 1
    assert len(run_operation(restart_pending, {}, config_sha256=None, **kwargs)[0]) == 1
    assert run_operation(restart_pending, {}, project="funasr", image="img:1",
                         services=[], config_sha256=None)[0] == []


def test_restart_pending_changes_when_the_waves_engine_change_restarts_docker():
    from funasr_fleet.digest import sha256_text

    image_id, text = "sha256:new", '{"live-restore": true}\n'
    running = {"containers": [{"status": "running", "image_id": image_id, "labels": {
        "com.docker.compose.service": "funasr", "io.funasr-fleet.config-sha256": "abc"}}],
        "image_id": image_id}
    live = {"/etc/docker/daemon.json": {"type": "file", "sha256": sha256_text(text)}}
    kwargs = {"project": "funasr", "image": "img:1", "services": ["funasr"], "config_sha256": "abc"}
    facts = {"ComposeProject": running, "PathStates": live, "DebPackageVersions": {"docker.io": "26"}}
    assert run_operation(restart_pending, facts, daemon_json=text,
                         pinned={"docker.io": "26"}, **kwargs)[0] == []
    _, host = run_operation(restart_pending, {**facts, "PathStates": {}}, daemon_json=text, **kwargs)
    assert host.logs == [] and len(host.yielded) == 1
    assert "Docker restarts next: daemon.json changes" in repr(host.yielded[0])
    _, host = run_operation(restart_pending, facts, daemon_json=text,
                            pinned={"docker.io": "27", "nvidia-container-toolkit": "1.17"}, **kwargs)
    assert "Docker restarts next: docker.io change version" in repr(host.yielded[0])  # not a first install


def test_a_limit_without_the_balancer_in_front_of_targeted_servers_is_refused_with_the_command():
    from funasr_fleet.balancer import check_limit

    inventory = fleet([("asr-1", {}), ("asr-2", {}), ("lb1", {})])
    servers = [host for host in inventory if "lb" not in host.groups]
    command = ["/venv/bin/pyinfra", "-y", "inventory/prod.py", "deploy.py", "--limit", "cpu"]
    with pytest.raises(SettingsError) as refused:
        check_limit(inventory, servers, command)
    assert "--limit leaves out the load balancer" in str(refused.value)
    assert "pyinfra -y inventory/prod.py deploy.py --limit cpu --limit lb" in str(refused.value)
    check_limit(inventory, list(inventory), command)  # the balancer is in the run
    check_limit(inventory, None, command)  # no limit
