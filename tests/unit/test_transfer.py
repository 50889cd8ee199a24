"""Bulk transfer: the rsync/ssh command line built from a host's pyinfra data."""

import shlex
from types import SimpleNamespace

from funasr_fleet import transfer
from funasr_fleet.transfer import AES_FIRST, SshRsyncCommand, ssh_command, ssh_ciphers

LAB = {"ssh_hostname": "127.0.0.1", "ssh_port": 32773, "ssh_user": "root",
       "ssh_key": "/work/lab key", "ssh_known_hosts_file": "/work/known_hosts",
       "ssh_strict_host_key_checking": "accept-new"}


def test_ssh_command_carries_the_hosts_pyinfra_ssh_settings():
    command = ssh_command(LAB | {"ssh_config_file": "/etc/fleet.ssh"}, ("aes128-gcm@openssh.com",))
    assert command[:3] == ["ssh", "-o", "BatchMode=yes"]  # never prompts
    text = shlex.join(command)
    for part in ("-o UserKnownHostsFile=/work/known_hosts", "-o StrictHostKeyChecking=accept-new",
                 "-F /etc/fleet.ssh", "-p 32773", "-i '/work/lab key'", "-c aes128-gcm@openssh.com"):
        assert part in text
    assert ssh_command({}) == ["ssh", "-o", "BatchMode=yes"]  # no -c: ssh's own choice


def test_rsync_command_line_targets_the_host_and_honours_sudo():
    host = SimpleNamespace(name="lab-1", data=LAB)
    command = SshRsyncCommand("/cache/tree/", "/opt/funasr/models/.staging/", ["-rt", "--copy-links"],
                              AES_FIRST)
    words = shlex.split(command.command_line(host))
    assert words[:3] == ["rsync", "-rt", "--copy-links"]
    assert words[-2:] == ["/cache/tree/", "root@127.0.0.1:/opt/funasr/models/.staging/"]
    rsh = shlex.split(words[words.index("--rsh") + 1])  # rsync splits it the same way
    assert rsh == ssh_command(LAB, AES_FIRST)
    assert words[words.index("--rsync-path") + 1] == "rsync"
    sudo = shlex.split(command.command_line(host, sudo=True, sudo_user="funasr"))
    assert sudo[sudo.index("--rsync-path") + 1] == "sudo -u funasr rsync"
    # no ssh_hostname: the inventory name is the address, as for pyinfra's connector
    bare = shlex.split(command.command_line(SimpleNamespace(name="gpu-1", data={})))
    assert bare[-1] == "gpu-1:/opt/funasr/models/.staging/"


def test_cipher_setting(monkeypatch):
    monkeypatch.setattr(transfer, "cpu_has_aes", lambda: True)
    assert ssh_ciphers("auto", True) == AES_FIRST
    assert AES_FIRST[2] == "chacha20-poly1305@openssh.com"  # for a server without AES-GCM
    # chacha20 (ssh's default) is the faster one where either end lacks AES instructions
    assert ssh_ciphers("auto", False) == ()
    monkeypatch.setattr(transfer, "cpu_has_aes", lambda: False)
    assert ssh_ciphers("auto", True) == ()
    assert ssh_ciphers("", True) == ()
    assert ssh_ciphers("aes256-gcm@openssh.com,aes256-ctr", False) == ("aes256-gcm@openssh.com", "aes256-ctr")


def test_rsync_is_not_used_where_ssh_cannot_run_it_unattended(monkeypatch):
    from pyinfra.connectors.ssh import SSHConnector

    monkeypatch.setattr(transfer, "local_rsync_version", lambda: (3, 2, 7))
    connector = SSHConnector.__new__(SSHConnector)
    connector.data = {"ssh_password": "", "ssh_key_password": ""}
    host = SimpleNamespace(connector=connector)
    assert transfer.can_rsync(host)
    connector.data = {"ssh_password": "secret", "ssh_key_password": ""}
    assert not transfer.can_rsync(host)  # BatchMode ssh cannot type a password: SFTP instead
    assert not transfer.can_rsync(SimpleNamespace(connector=None))  # @local, @docker, tests
