"""
Hardening on the lab: generated TLS verified against the fleet CA, and the firewall
allow-list (nftables table inet funasr_fleet) in front of Docker's published port.
Each test puts the lab back as the converge left it.
"""

import pytest

from conftest import grand_total

pytestmark = pytest.mark.lab

FIREWALL_CLEANUP = ("systemctl disable --now funasr-fleet-firewall.service; "
                    "nft delete table inet funasr_fleet; "
                    "rm -f /etc/funasr-fleet/firewall.nft /etc/systemd/system/funasr-fleet-firewall.service; "
                    "systemctl daemon-reload")


def test_generated_tls_is_verified_against_the_fleet_ca_and_kept(lab, tmp_path):
    from funasr_fleet import tls
    from funasr_fleet.probe import TlsPolicy, probe

    target, tls_dir = lab.hosts[0], tmp_path / "tls"
    lab.set_host_data({target: {"funasr_tls": "generated", "funasr_tls_dir": str(tls_dir)}})
    try:
        result = lab.deploy()  # its health gate verifies the server against the fleet CA
        assert result.returncode == 0, result.output[-5000:]
        key = tls.host_files(tls_dir, target).key.read_text()
        assert "PRIVATE KEY" not in result.output and "".join(key.splitlines()[1:-1])[:32] not in result.output
        assert lab.ssh(target, "stat -c '%a %U' /opt/funasr/ssl/server.key").strip() == "600 root"
        url = f"wss://127.0.0.1:{lab.entry(target)['service_ports']['10095']}"
        assert probe(url, tls=TlsPolicy(cafile=str(tls.ca_files(tls_dir).cert))).ok
        assert not probe(url).ok  # the system CAs do not know the fleet CA
        started = lab.container(target)["State"]["StartedAt"]
        again = lab.deploy()
        assert again.returncode == 0, again.output[-5000:]
        assert grand_total(again.output)[1:3] == (0, 0), again.output[-5000:]  # certificate reused
        assert lab.container(target)["State"]["StartedAt"] == started
    finally:
        lab.set_host_data({})
    assert lab.deploy().returncode == 0


def test_firewall_admits_listed_sources_only_and_leaves_dockers_rules(lab):
    from funasr_fleet.probe import probe

    target = lab.hosts[0]
    url = f"ws://127.0.0.1:{lab.entry(target)['service_ports']['10095']}"
    # The control node reaches the lab host through Docker's port publishing; the lab host
    # sees the same source address for SSH and for the service port.
    source = lab.ssh(target, "echo $SSH_CONNECTION").split()[0]
    loopback = "timeout 5 bash -c '</dev/tcp/127.0.0.1/10095' && echo open"
    try:
        lab.set_host_data({target: {"funasr_allow_from": [source]}})
        result = lab.deploy()
        assert result.returncode == 0, result.output[-5000:]  # the gate passed through the firewall
        assert "config-sha256" in lab.ssh(target, "nft list table inet funasr_fleet")
        assert lab.ssh(target, "systemctl is-enabled funasr-fleet-firewall.service").strip() == "enabled"
        assert probe(url).ok  # Docker's DNAT still works next to our table
        assert lab.ssh(target, loopback).strip() == "open"  # loopback is always allowed
        again = lab.deploy()
        assert grand_total(again.output)[1:3] == (0, 0), again.output[-5000:]

        # A list without the control node (validation cannot tell here: the lab is probed
        # through 127.0.0.1): loaded in the host's wave, found to drop the probe, and put
        # back on the spot; the host fails, no later wave starts, the server still serves.
        live = lab.ssh(target, "nft list table inet funasr_fleet")
        ruleset = lab.ssh(target, "sha256sum /etc/funasr-fleet/firewall.nft")
        others = {name: lab.container(name)["State"]["StartedAt"] for name in lab.hosts if name != target}
        lab.set_host_data({target: {"funasr_allow_from": ["192.0.2.0/24"]},
                           **{name: {"funasr_hotwords": {"防火墙": 20}} for name in others}})
        blocked = lab.deploy()
        assert blocked.returncode != 0, blocked.output[-5000:]
        assert (f"[{target}] the new firewall (funasr_allow_from) drops this control node's probe to "
                f"{url}: table inet funasr_fleet was put back as it was.") in blocked.output, blocked.output[-5000:]
        assert lab.ssh(target, "nft list table inet funasr_fleet") == live
        assert lab.ssh(target, "sha256sum /etc/funasr-fleet/firewall.nft") == ruleset
        assert probe(url).ok
        for name in others:  # the canary failed: no later wave changed its servers
            assert "防火墙" not in lab.ssh(name, "cat /opt/funasr/hotwords.txt"), name
            assert lab.container(name)["State"]["StartedAt"] == others[name]
    finally:
        lab.set_host_data({})
        lab.ssh(target, FIREWALL_CLEANUP, check=False)
    assert lab.deploy().returncode == 0
    assert probe(url).ok


def test_no_secret_in_a_full_deploys_output_verbose_or_dry(lab, tmp_path, monkeypatch):
    """A grep over whole runs (-vvv prints every command; --dry shows the changes) finds
    neither the registry password nor any private key the run uploads."""
    from funasr_fleet import tls

    password = "s3cret-registry-password-6f1c2a"
    monkeypatch.setenv("FUNASR_LAB_REGISTRY_PASSWORD", password)
    target, tls_dir = lab.hosts[0], tmp_path / "tls"
    data = {"funasr_tls": "generated", "funasr_tls_dir": str(tls_dir),
            "funasr_registry_username": "lab", "funasr_registry_password_env": "FUNASR_LAB_REGISTRY_PASSWORD"}
    lab.set_host_data({target: data})
    try:
        dry = lab.deploy("--dry")  # the new certificate and key are a pending change here
        assert not tls_dir.exists()  # --dry issued nothing
        verbose = lab.deploy("-vvv")  # issued and uploaded here, every command printed
        # the keys this verbose run issued and uploaded (read before any later run)
        keys = [tls.host_files(tls_dir, target).key.read_text(), tls.ca_files(tls_dir).key.read_text()]
        lab.set_host_data({target: {**data, "funasr_tls_sans": ["asr.example.internal"]}})
        reissued = lab.deploy("--dry", "-vvv")  # a re-issue pending, shown, not made
        assert [tls.host_files(tls_dir, target).key.read_text(), tls.ca_files(tls_dir).key.read_text()] == keys
    finally:
        lab.set_host_data({})
    assert verbose.returncode == 0, verbose.output[-4000:]
    secrets = [password] + [line for key in keys for line in key.splitlines()[1:-1] if len(line) > 16]
    for run in (dry, verbose, reissued):
        assert "PRIVATE KEY" not in run.output
        leaked = [secret for secret in secrets if secret in run.output]
        assert leaked == [], f"{len(leaked)} secret(s) in the output"
    assert "/opt/funasr/ssl/server.key" in verbose.output  # the key was part of this run
    assert lab.deploy().returncode == 0


def test_the_product_default_tls_converges_idempotently_and_upgrades(lab, tmp_path):
    """The lab runs plain ws (group_data/lab.py); here every server gets the product's
    default, funasr_tls = "generated": converge (each gate verifies wss against the fleet
    CA), a second run changes nothing, and an upgrade goes through waves and wss gates."""
    from funasr_fleet import tls
    from funasr_fleet.probe import TlsPolicy, probe

    tls_dir = tmp_path / "tls"
    cpu = [name for name in lab.hosts if not lab.is_gpu(name)]

    def release(version):
        lab.set_host_data({name: {"funasr_tls": "generated", "funasr_tls_dir": str(tls_dir),
                                  **({"funasr_version": version} if name in cpu else {})}
                           for name in lab.hosts})
    try:
        release("0.1.10")
        converged = lab.deploy()
        assert converged.returncode == 0, converged.output[-4000:]
        fleet_ca = TlsPolicy(cafile=str(tls.ca_files(tls_dir).cert))
        for name in lab.hosts:
            url = f"wss://127.0.0.1:{lab.entry(name)['service_ports']['10095']}"
            mode = "offline" if lab.is_gpu(name) else "2pass"
            assert probe(url, mode=mode, tls=fleet_ca).ok, name
        again = lab.deploy()
        assert grand_total(again.output)[1:3] == (0, 0), again.output[-4000:]
        release("0.1.11")
        upgraded = lab.deploy()
        assert upgraded.returncode == 0, upgraded.output[-4000:]
        for name in cpu:
            assert lab.container(name)["Config"]["Image"].endswith("0.1.11"), name
            assert probe(f"wss://127.0.0.1:{lab.entry(name)['service_ports']['10095']}", tls=fleet_ca).ok
    finally:
        lab.set_host_data({})
    assert lab.deploy().returncode == 0


def test_a_rebooted_host_comes_back_by_itself_with_its_firewall_before_docker(lab):
    """A reboot (the lab host's container restarted: every process stops, systemd boots
    it again): the firewall table is loaded before Docker starts, Docker brings the server
    back (its restart policy), it answers, and a converge changes nothing."""
    import time

    from funasr_fleet.probe import probe

    target = lab.hosts[0]
    source = lab.ssh(target, "echo $SSH_CONNECTION").split()[0]
    lab.set_host_data({target: {"funasr_allow_from": [source]}})
    try:
        assert lab.deploy().returncode == 0
        table = lab.ssh(target, "nft list table inet funasr_fleet")
        lab.reboot(target)
        url = f"ws://127.0.0.1:{lab.entry(target)['service_ports']['10095']}"
        deadline = time.monotonic() + 180
        while not probe(url, connect_timeout=3, timeout=10).ok:
            assert time.monotonic() < deadline, f"{target} did not come back serving after the reboot"
            time.sleep(3)
        assert lab.ssh(target, "systemctl is-system-running", check=False).strip() == "running"
        firewall = int(lab.ssh(target, "systemctl show -p ActiveEnterTimestampMonotonic --value "
                                       "funasr-fleet-firewall.service"))
        assert 0 < firewall <= lab.docker_started(target)  # loaded at boot, before Docker
        assert lab.ssh(target, "nft list table inet funasr_fleet") == table
        again = lab.deploy()
        assert again.returncode == 0 and grand_total(again.output)[1:3] == (0, 0), again.output[-4000:]
    finally:
        lab.set_host_data({})
        lab.ssh(target, FIREWALL_CLEANUP, check=False)
    assert lab.deploy().returncode == 0
