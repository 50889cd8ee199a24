"""A host the run cannot change (its user cannot sudo without a password, or is not root
and the run does not use sudo) is refused before any host changes, in one line that
names the host, what is wrong and the fix. The real command is in test_cli_errors.py."""

import pytest
from pyinfra.api import Config, State
from pyinfra.context import ctx_host

from funasr_fleet.deploys import fleet
from funasr_fleet.deploys.fleet import access_problem, access_unknown, check_access
from funasr_fleet.errors import SettingsError
from funasr_fleet.pyinfra_internals import uses_sudo
from funasr_fleet.settings import load_settings
from helpers import FakeHost, make_inventory

NOPASSWD = "add `deploy ALL=(ALL) NOPASSWD:ALL` to /etc/sudoers.d/funasr-fleet on the host"


def access(user="deploy", uid=1000, sudo=None, sudo_error=""):
    return {"user": user, "uid": uid, "sudo": sudo, "sudo_error": sudo_error}


@pytest.mark.parametrize("seen, sudo, line", [
    (access(sudo="password", sudo_error="sudo: a password is required"), True,
     f"asr-1: user deploy cannot run sudo without a password; {NOPASSWD}, or set ssh_user = \"root\"."),
    (access(sudo="failed", sudo_error="sudo: sorry, you must have a tty to run sudo"), True,
     "asr-1: user deploy cannot run sudo (sudo: sorry, you must have a tty to run sudo); "
     f"{NOPASSWD}, or set ssh_user = \"root\"."),
    (access(sudo="missing"), True,
     f"asr-1: the run uses sudo (_sudo), but sudo is not installed; install sudo and {NOPASSWD}, "
     "or set ssh_user = \"root\" and _sudo = False."),
    (access("root", 0, sudo="missing"), True,
     "asr-1: the run uses sudo (_sudo), but sudo is not installed; set _sudo = False (the user is root)."),
    (access(), False,
     f"asr-1: user deploy is not root and the run does not use sudo; set _sudo = True and {NOPASSWD}, "
     "or set ssh_user = \"root\"."),
])
def test_each_problem_is_one_line_with_the_host_what_is_wrong_and_the_fix(seen, sudo, line):
    assert access_problem("asr-1", seen, sudo) == line


@pytest.mark.parametrize("seen, sudo", [
    (access(sudo="ok"), True),  # passwordless sudo
    (access("root", 0, sudo="ok"), True),
    (access("root", 0), False),  # root without sudo
    (access(uid=None), False),  # the fact could not say: pyinfra reports a failed fact itself
    (access(sudo=None), True),
])
def test_a_host_the_run_can_change_has_no_problem(seen, sudo):
    assert access_problem("asr-1", seen, sudo) is None


def settings_and_host(data, config=None):
    state = State(check_for_changes=False)
    state.init(make_inventory([("asr-1", data)]), config or Config())
    host = state.inventory.get_host("asr-1")
    return load_settings(host), host


def test_the_run_uses_sudo_from_the_host_data_or_the_command_line():
    assert uses_sudo(settings_and_host({"_sudo": True})[1])
    assert not uses_sudo(settings_and_host({})[1])
    assert uses_sudo(settings_and_host({}, Config(SUDO=True))[1])  # pyinfra --sudo
    assert not uses_sudo(settings_and_host({"_sudo": False}, Config(SUDO=True))[1])


@pytest.mark.parametrize("ssh_user, sudo, read", [
    ("deploy", True, True),
    (None, True, True),  # the SSH client's default user, with sudo: who knows
    ("deploy", False, True),  # a named user without sudo: is it root?
    ("root", True, False),  # root: no sudo needed, no command
    ("root", False, False),
    (None, False, False),  # the SSH client's default user without sudo: not read
])
def test_the_access_is_read_unless_the_run_logs_in_as_root(ssh_user, sudo, read):
    assert access_unknown(ssh_user, sudo) is read


def checked(data, seen, sudo):
    """``check_access`` on a fake host with ``data`` whose HostAccess is ``seen``."""
    settings, _ = settings_and_host({})
    fake = FakeHost({"HostAccess": seen})
    fake.data = data
    with ctx_host.use(fake):
        return check_access(settings), fake


def test_the_check_reads_the_host_without_pyinfras_sudo_and_refuses_the_run(monkeypatch):
    monkeypatch.setattr(fleet, "uses_sudo", lambda host: True)
    with pytest.raises(SettingsError) as error:
        checked({"ssh_user": "deploy"}, access(sudo="password", sudo_error="sudo: a password is required"), True)
    assert str(error.value) == (f"asr-1: user deploy cannot run sudo without a password; {NOPASSWD}, "
                                "or set ssh_user = \"root\". Nothing was changed on any host.")
    assert "\n" not in str(error.value)
    # pyinfra's sudo would prompt for a password (or fail without a terminal): not used
    _, fake = checked({"ssh_user": "deploy"}, access(sudo="ok"), True)
    assert fake.fact_calls == [("HostAccess", {"sudo": True, "_sudo": False})]


def test_a_root_login_costs_no_command(monkeypatch):
    monkeypatch.setattr(fleet, "uses_sudo", lambda host: True)
    _, fake = checked({"ssh_user": "root"}, None, True)
    assert fake.fact_calls == []
    monkeypatch.setattr(fleet, "uses_sudo", lambda host: False)
    _, fake = checked({"ssh_user": "deploy"}, access("deploy", 0), False)  # uid 0 by another name
    assert fake.fact_calls == [("HostAccess", {"sudo": False, "_sudo": False})]
