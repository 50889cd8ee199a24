"""
Host-wide changes cannot take the fleet down (issue 12): a bad registry mirror is refused
by validation before any host changes; a daemon.json that passes our checks but that
dockerd refuses never replaces the live file (dockerd --validate on the host), Docker is
not restarted and every server keeps serving; a Docker unit left failed by an earlier run
is reset and started by the next run, without hand work.
"""

import pytest

from conftest import grand_total

pytestmark = pytest.mark.lab


def started_at(lab):
    return {name: lab.container(name)["State"]["StartedAt"] for name in lab.hosts}


def test_a_registry_mirror_that_is_not_a_url_is_refused_before_any_host_changes(lab):
    before = {name: lab.ssh(name, "sha256sum /etc/docker/daemon.json") for name in lab.hosts}
    result = lab.deploy("--data", 'docker_registry_mirrors=["not a url"]')
    assert result.returncode != 0
    assert "docker_registry_mirrors = ['not a url'] (from --data on the command line): " \
           "entry 'not a url' is not an http(s) URL" in result.output, result.output[-3000:]
    assert "Beginning operation run" not in result.output
    assert {name: lab.ssh(name, "sha256sum /etc/docker/daemon.json") for name in lab.hosts} == before


def test_a_daemon_json_dockerd_refuses_never_replaces_the_live_one(lab):
    before = {name: lab.ssh(name, "sha256sum /etc/docker/daemon.json") for name in lab.hosts}
    started = started_at(lab)
    # An http(s) URL to our checks; dockerd refuses a mirror with a query string.
    result = lab.deploy("--data", 'docker_registry_mirrors=["https://mirror.example.com/?x=1"]')
    assert result.returncode != 0
    assert "daemon.json refused by dockerd --validate" in result.output, result.output[-3000:]
    assert {name: lab.ssh(name, "sha256sum /etc/docker/daemon.json") for name in lab.hosts} == before
    assert started_at(lab) == started  # Docker was not restarted: every server kept running
    for name in lab.hosts:
        assert lab.probe(name)[0] == 0


def test_a_failed_docker_unit_is_healed_by_the_next_run(lab):
    """What a bad daemon.json did before: dockerd exits at every start, and after three
    quick failures systemd refuses to start it again ("start request repeated too
    quickly") until someone types systemctl reset-failed. The good file is back (as
    a later run with good data leaves it): a plain converge resets and starts Docker."""
    name = lab.hosts[0]
    lab.ssh(name, "cp -p /etc/docker/daemon.json /root/daemon.json.good && "
                  "echo '{\"no-such-directive\": 1}' > /etc/docker/daemon.json && "
                  "for i in 1 2 3 4 5; do systemctl restart docker.service 2>/dev/null; sleep 0.5; done; "
                  "cp -p /root/daemon.json.good /etc/docker/daemon.json", check=False)
    state = lab.ssh(name, "systemctl is-active docker.service", check=False).strip()
    assert state == "failed", state
    result = lab.deploy()
    assert result.returncode == 0, result.output[-3000:]
    assert lab.ssh(name, "systemctl is-active docker.service").strip() == "active"
    assert lab.probe(name)[0] == 0
    again = lab.deploy()
    assert grand_total(again.output)[1:3] == (0, 0), again.output[-3000:]
