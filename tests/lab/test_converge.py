"""
The core scenario on the lab (3 CPU hosts and a simulated GPU host): converge,
idempotence, verify; then hotword changes and bad input. Tests run in this order and
share the lab.
"""

import re
from collections import Counter

import pytest

from conftest import grand_total

pytestmark = pytest.mark.lab


def test_converge(lab):
    result = lab.deploy()
    assert result.returncode == 0, result.output[-5000:]
    hosts, changed, errors, _ = grand_total(result.output)
    assert errors == 0 and changed > 0
    # The fresh toolkit on the GPU host is checked from inside a container.
    gpu = next(name for name in lab.hosts if lab.is_gpu(name))
    assert f"[{gpu}] 2 GPU(s) visible in a container: GPU 0: funasr-fleet lab SIMULATED GPU" in result.output


def remote_commands(output):
    """``{host: commands}`` pyinfra sent (``-vv`` prints each, facts too, as ``>>>``)."""
    plain = re.sub(r"\x1b\[[0-9;]*m", "", output)
    return Counter(match.group(1) for match in re.finditer(r"^\[([^\]]+)\]\s*>>>", plain, re.M))


def test_idempotence_second_converge_changes_nothing(lab):
    started = {name: lab.container(name)["State"]["StartedAt"] for name in lab.hosts}
    result = lab.deploy("-vv")
    assert result.returncode == 0, result.output[-5000:]
    _, changed, errors, unchanged = grand_total(result.output)
    assert (changed, errors) == (0, 0), result.output[-5000:]
    assert unchanged > 0
    assert {name: lab.container(name)["State"]["StartedAt"] for name in lab.hosts} == started
    # Each host's facts are read in one command while deploy.py is prepared and one
    # when it executes (facts/batch.py): a read outside the batch would show here.
    commands = remote_commands(result.output)
    assert set(lab.hosts) <= set(commands) and max(commands.values()) <= 2, commands


def test_verify_every_host_answers_the_probe(lab):
    for name in lab.hosts:
        status, report = lab.probe(name)
        assert status == 0 and report["ok"], report
        assert report["text"]


def test_verify_host_state(lab):
    for name in lab.hosts:
        assert lab.ssh(name, "systemctl is-active docker").strip() == "active"
        assert lab.ssh(name, "systemctl is-enabled docker").strip() == "enabled"
        assert lab.ssh(name, "docker compose version --short").strip().startswith("2.")
        modes = lab.ssh(name, "stat -c '%n %a %U' /opt/funasr /opt/funasr/compose.yaml "
                              "/opt/funasr/hotwords.txt /opt/funasr/models /opt/funasr/ssl")
        assert modes.split("\n")[:5] == [
            "/opt/funasr 755 root", "/opt/funasr/compose.yaml 644 root",
            "/opt/funasr/hotwords.txt 644 root", "/opt/funasr/models 755 root",
            "/opt/funasr/ssl 700 root"]
        container = lab.container(name)
        host_config = container["HostConfig"]
        assert host_config["Privileged"] is False
        assert host_config["RestartPolicy"]["Name"] == "unless-stopped"
        assert host_config["CapDrop"] == ["ALL"]
        assert host_config["NetworkMode"] != "host"
        mounts = {mount["Destination"]: mount for mount in container["Mounts"]}
        assert mounts["/workspace/models"]["RW"] is False
        assert container["State"]["Running"] is True
        assert "阿里巴巴 : 20" in lab.ssh(name, "docker logs funasr-funasr-1 2>&1")


def test_changed_hotwords_restart_only_that_host(lab):
    before = {name: lab.container(name)["State"]["StartedAt"] for name in lab.hosts}
    target = lab.hosts[1]
    lab.set_host_data({target: {"funasr_hotwords": {"小智": 30}}})
    try:
        result = lab.deploy()
        assert result.returncode == 0, result.output[-5000:]
        after = {name: lab.container(name)["State"]["StartedAt"] for name in lab.hosts}
        assert after[target] != before[target]
        assert {n: after[n] for n in lab.hosts if n != target} == \
               {n: before[n] for n in lab.hosts if n != target}
        assert "小智 30" in lab.ssh(target, "cat /opt/funasr/hotwords.txt")
        assert "小智 : 30" in lab.ssh(target, "docker logs funasr-funasr-1 2>&1")
    finally:
        lab.set_host_data({})
    assert lab.deploy().returncode == 0


BAD_INPUTS = [
    # (how, value, what the message must name)
    ({"data": "funasr_port=70000"}, ["funasr_port = 70000", "from --data", "1 to 65535"]),
    ({"host_data": {"funasr_hotwords": {"阿里巴巴": "high"}}},
     ["funasr_hotwords", "weight 'high'", "integers 1-100"]),
    ({"group_data": "funasr_prot = 10095\n"}, ["funasr_prot", "did you mean 'funasr_port'"]),
    # group_data/lab.py sets hotwords; without the LM nothing would apply them.
    ({"host_data": {"funasr_models": {"2pass": {"lm": None}}}},
     ["funasr_hotwords", "cannot apply them", "funasr_models['2pass']['lm']"]),
    ({"data": "funasr_version="}, ["funasr_version = ''", "must be an image version"]),
]


@pytest.mark.parametrize("how, expected", BAD_INPUTS,
                         ids=["port-70000", "weight-high", "unknown-key", "hotwords-without-lm", "no-tag"])
def test_bad_input_fails_before_any_host_changes(lab, tmp_path, how, expected):
    before = {name: (lab.container(name)["State"]["StartedAt"],
                     lab.ssh(name, "sha256sum /opt/funasr/compose.yaml")) for name in lab.hosts}
    args = []
    if "data" in how:
        args += ["--data", how["data"]]
    if "group_data" in how:
        (tmp_path / "lab.py").write_text(how["group_data"])
        args += ["--group-data", str(tmp_path)]
    lab.set_host_data({lab.hosts[0]: how["host_data"]} if "host_data" in how else {})
    try:
        result = lab.deploy(*args)
    finally:
        lab.set_host_data({})
    assert result.returncode != 0
    assert "nothing was changed on any host" in result.output, result.output[-3000:]
    for fragment in expected:
        assert fragment in result.output, result.output[-3000:]
    assert "Beginning operation run" not in result.output
    after = {name: (lab.container(name)["State"]["StartedAt"],
                    lab.ssh(name, "sha256sum /opt/funasr/compose.yaml")) for name in lab.hosts}
    assert after == before


def test_wss_with_operator_certificate_is_probed_with_the_pinned_certificate(lab, tmp_path):
    import subprocess
    import sys
    import time

    from funasr_fleet.probe import TlsPolicy, certificate_sha256, probe

    cert, key = tmp_path / "server.crt", tmp_path / "server.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=lab-1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    target = lab.hosts[0]
    lab.set_host_data({target: {"funasr_tls": "files", "funasr_tls_cert": str(cert),
                                "funasr_tls_key": str(key)}})
    try:
        result = lab.deploy()
        assert result.returncode == 0, result.output[-5000:]
        assert "BEGIN PRIVATE KEY" not in result.output
        assert lab.ssh(target, "stat -c '%a %U' /opt/funasr/ssl/server.key").strip() == "600 root"
        url = f"wss://127.0.0.1:{lab.entry(target)['service_ports']['10095']}"
        assert probe(url, tls=TlsPolicy(pin_sha256=certificate_sha256(cert))).ok
        unverified = probe(url)  # self-signed is refused unless pinned or configured
        assert not unverified.ok and "CERTIFICATE_VERIFY_FAILED" in unverified.error
        for _ in range(3):  # the lab's two port proxies can drop a handshake now and then
            cli = subprocess.run([sys.executable, "-m", "funasr_fleet", "probe", url, "--insecure"],
                                 capture_output=True, text=True)
            if cli.returncode == 0:
                break
            time.sleep(2)
        assert cli.returncode == 0, cli.stderr
    finally:
        lab.set_host_data({})
    assert lab.deploy().returncode == 0
    assert probe(f"ws://127.0.0.1:{lab.entry(target)['service_ports']['10095']}").ok


def test_every_host_is_validated_even_outside_the_limit(lab):
    """Validation covers the whole inventory once per run (fleet-wide knobs need it)."""
    lab.set_host_data({lab.hosts[-1]: {"funasr_port": 70000}})
    try:
        result = lab.deploy("--limit", lab.hosts[0])
    finally:
        lab.set_host_data({})
    assert result.returncode != 0
    assert f"{lab.hosts[-1]}: funasr_port = 70000" in result.output
    assert "Beginning operation run" not in result.output


def test_a_limit_that_leaves_out_the_load_balancer_is_refused_with_the_command_to_run(lab):
    """With --limit cpu alone, lab-5's nginx would not drain the servers that restart."""
    result = lab.deploy("--limit", "cpu")
    assert result.returncode != 0
    assert f"--limit leaves out the load balancer {lab.balancers[0]} (group 'lb')" in result.output
    assert "Run it with the balancer: pyinfra -y inventory/lab.py deploy.py --limit cpu --limit lb" \
        in result.output
    assert "Beginning operation run" not in result.output


def test_diff_shows_a_hotword_change_in_hotwords_txt_and_the_compose_label(lab):
    """pyinfra --diff on a hotword change: the run shows the changed line of hotwords.txt
    and the config label of compose.yaml before it writes them, as pyinfra's own file
    operations do. (pyinfra's change detection skips conditional operations, and the
    release's operations run in their wave, so --dry shows no diff of them.)"""
    import re

    name = lab.hosts[0]
    lab.set_host_data({name: {"funasr_hotwords": {"差异演示": 25}}})
    try:
        result = lab.deploy("--diff")
    finally:
        lab.set_host_data({})
    output = re.sub(r"\x1b\[[0-9;]*m", "", result.output)
    assert result.returncode == 0, output[-3000:]
    assert f"[{name}] Will modify /opt/funasr/hotwords.txt" in output, output[-3000:]
    assert re.search(rf"\[{name}\]\s+\+ 差异演示 25", output), output[-3000:]
    assert f"[{name}] Will modify /opt/funasr/compose.yaml" in output
    labels = re.findall(rf"\[{name}\]\s+([-+]) .*io\.funasr-fleet\.config-sha256", output)
    assert sorted(labels) == ["+", "-"], labels
    assert "PRIVATE KEY" not in output
    assert lab.deploy().returncode == 0  # the lab's hotwords back
