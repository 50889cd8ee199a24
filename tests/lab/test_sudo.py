"""
A host without sudo (issue 14) on the lab: the deploy's SSH user on one lab host is a plain
user. Converge: the run is refused before any host changes, in one line that names the host,
what is wrong and the fix, and no traceback. Then the fix that line gives (a NOPASSWD rule in
/etc/sudoers.d) is applied as written, and the same run converges every host, that one as
the plain user with sudo. The lab is put back as the converge left it.
"""

import json
import re

import pytest

pytestmark = pytest.mark.lab

USER = "fleet-deploy"
NEW_HOTWORDS = {"权限检查": 30}
# The fix the refusal names: a sudoers rule and its file.
FIX = re.compile(r"add `(?P<rule>[^`]+)` to (?P<path>/etc/sudoers\.d/\S+) on the host")


def state_of(lab, name):
    """What the refused run must not have changed on a host: hotwords and release record."""
    return {"hotwords": lab.ssh(name, "cat /opt/funasr/hotwords.txt"),
            "release": json.loads(lab.ssh(name, "cat /opt/funasr/release.json"))}


def refusal(result, name):
    """The run's one line about host ``name``; asserts it failed, with no traceback."""
    assert result.returncode == 1, result.output[-4000:]
    assert "Traceback" not in result.output and "sudo password" not in result.output, result.output[-4000:]
    [line] = [line for line in result.output.splitlines() if f"{name}: " in line and USER in line]
    assert line.endswith("Nothing was changed on any host."), line
    return line


@pytest.fixture
def plain_user(lab):
    """Lab host ``lab.hosts[0]`` with a plain user ``USER`` (the lab's SSH key, no sudo
    rule); yields ``(lab, name)``; afterwards the user and any rule are gone and the lab
    converged as before."""
    name = lab.hosts[0]
    lab.set_host_data({})
    assert lab.deploy().returncode == 0  # converged (a no-op after the converge tests)
    lab.ssh(name, f"id {USER} >/dev/null 2>&1 || useradd -m -s /bin/sh {USER}; "
                  f"install -d -m 700 -o {USER} -g {USER} /home/{USER}/.ssh; "
                  f"install -m 600 -o {USER} -g {USER} /root/.ssh/authorized_keys /home/{USER}/.ssh/")
    yield lab, name
    lab.ssh(name, f"rm -f /etc/sudoers.d/funasr-fleet; pkill -u {USER}; sleep 1; userdel -r {USER}",
            check=False)
    lab.set_host_data({})
    assert lab.deploy().returncode == 0


def test_a_host_whose_user_cannot_sudo_is_refused_in_one_line_and_the_fix_works(plain_user):
    lab, name = plain_user
    before = {host: state_of(lab, host) for host in lab.hosts}
    as_user = {"ssh_user": USER, "_sudo": True}
    lab.set_host_data({host: {"funasr_hotwords": NEW_HOTWORDS, **(as_user if host == name else {})}
                       for host in lab.hosts})

    # Converge: refused, one line, before any host changes (the others too).
    line = refusal(lab.deploy(), name)
    assert f"{name}: user {USER} cannot run sudo without a password; add `{USER} ALL=(ALL) NOPASSWD:ALL` " \
           f"to /etc/sudoers.d/funasr-fleet on the host, or set ssh_user = \"root\"." in line
    assert {host: state_of(lab, host) for host in lab.hosts} == before
    fix = FIX.search(line)

    # The same user without _sudo: not root, and the run does not use sudo.
    lab.set_host_data({name: {"ssh_user": USER}})
    line = refusal(lab.deploy(), name)
    assert f"{name}: user {USER} is not root and the run does not use sudo; set _sudo = True" in line

    # The fix as the refusal gives it; then the run converges, that host as USER with sudo.
    lab.ssh(name, f"echo '{fix['rule']}' > {fix['path']} && chmod 440 {fix['path']} && visudo -cf {fix['path']}")
    lab.set_host_data({host: {"funasr_hotwords": NEW_HOTWORDS, **(as_user if host == name else {})}
                       for host in lab.hosts})
    result = lab.deploy()
    assert result.returncode == 0, result.output[-5000:]
    for host in lab.hosts:
        assert "权限检查" in lab.ssh(host, "cat /opt/funasr/hotwords.txt"), host
        assert lab.probe(host)[0] == 0, host
