"""
Bulk copies from the control node to a host: rsync over the system ssh client, with the
host's pyinfra SSH settings and an SSH cipher chosen for throughput.

pyinfra's own ``RsyncCommand`` builds the ssh command line itself and offers no way to
pick a cipher. The default (chacha20-poly1305) costs the control node about a third
more CPU per byte than AES-GCM on a CPU with AES instructions, and ssh is single
threaded: for gigabytes of models that is the transfer's ceiling.
"""

import functools
import shlex
import shutil
import subprocess

from pyinfra.api.command import RsyncCommand

from .facts.models import cpu_aes_test, rsync_version
from .pyinfra_internals import connector_can_rsync, run_local, uses_ssh

# OpenSSH's default ciphers with AES-GCM first. `ssh -c` takes the list in preference
# order and the server picks the first it also offers, so a server without AES-GCM
# still gets chacha20-poly1305 or AES-CTR.
AES_FIRST = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com", "chacha20-poly1305@openssh.com",
             "aes128-ctr", "aes192-ctr", "aes256-ctr")


@functools.cache
def cpu_has_aes(cpuinfo="/proc/cpuinfo"):
    """Whether the control node's CPU has AES instructions: the same test
    (`facts.models.cpu_aes_test`) that `facts.models.ModelManifests` runs on hosts (``cpu_aes``)."""
    return subprocess.run(["sh", "-c", cpu_aes_test(cpuinfo)]).returncode == 0


def ssh_ciphers(setting, host_aes):
    """The ``ssh -c`` list for the setting ``funasr_models_ssh_ciphers`` and a host whose
    CPU has AES instructions or not (``host_aes``). ``"auto"`` gives `AES_FIRST` when
    both ends have them (the control node encrypts, the host decrypts; without AES
    instructions chacha20 is the faster one), else ssh's own choice (empty); ``""``
    leaves the choice to ssh and its config; anything else is the list itself.

    .. code:: python

        ssh_ciphers("auto", facts["cpu_aes"])  # ("aes128-gcm@openssh.com", ...) or ()
    """
    if setting == "auto":
        return AES_FIRST if host_aes and cpu_has_aes() else ()
    return tuple(name for name in setting.split(",") if name)


@functools.cache
def local_rsync_version():
    """The control node's rsync version (`facts.models.rsync_version`), None without rsync."""
    if not shutil.which("rsync"):
        return None
    banner = subprocess.run(["rsync", "--version"], capture_output=True, text=True).stdout
    return rsync_version(banner.splitlines()[0] if banner else "")


def can_rsync(host):
    """Whether rsync over the system ssh client can reach ``host``: an SSH host (not
    ``@local``/``@docker``) without a password or passphrase-protected key, and rsync
    on the control node. The remote end's rsync is a fact (`facts.models.ModelManifests`)."""
    if not uses_ssh(host) or not local_rsync_version():
        return False
    return connector_can_rsync(host)


def ssh_command(data, ciphers=()):
    """The ssh client command line (a list) for a host's pyinfra data: the same settings
    pyinfra's SSH connector uses (port, user key, known hosts, host key checking, config
    file), non-interactive, with ``ciphers`` in preference order when given.

    .. code:: python

        ssh_command(host.data, ("aes128-gcm@openssh.com", "chacha20-poly1305@openssh.com"))
    """
    command = ["ssh", "-o", "BatchMode=yes"]
    if data.get("ssh_known_hosts_file"):
        command += ["-o", f"UserKnownHostsFile={data.get('ssh_known_hosts_file')}"]
    if data.get("ssh_strict_host_key_checking"):
        command += ["-o", f"StrictHostKeyChecking={data.get('ssh_strict_host_key_checking')}"]
    if data.get("ssh_config_file"):
        command += ["-F", str(data.get("ssh_config_file"))]
    if data.get("ssh_port"):
        command += ["-p", str(data.get("ssh_port"))]
    if data.get("ssh_key"):
        command += ["-i", str(data.get("ssh_key"))]
    if ciphers:
        command += ["-c", ",".join(ciphers)]
    return command


def ssh_destination(host):
    """``[user@]address`` of a pyinfra host, as its SSH connector reaches it: ``ssh_user``
    and ``ssh_hostname`` data, the inventory name when there is no ``ssh_hostname``."""
    user = host.data.get("ssh_user")
    return f"{user + '@' if user else ''}{host.data.get('ssh_hostname') or host.name}"


class SshRsyncCommand(RsyncCommand):
    """
    ``rsync FLAGS SRC HOST:DEST`` over the system ssh client (`ssh_command`), honouring
    the operation's ``_sudo``/``_sudo_user`` like pyinfra's own rsync. A failure raises
    OSError with rsync's message, which fails the host's operation.

    .. code:: python

        yield SshRsyncCommand(f"{tree}/", f"{staging}/", ["-rt", "--copy-links"], ciphers)
    """

    def __init__(self, src, dest, flags, ciphers=()):
        super().__init__(src, dest, flags)
        self.ciphers = tuple(ciphers)

    def command_line(self, host, sudo=False, sudo_user=None):
        """The local shell command this runs for ``host``."""
        remote_rsync = ["sudo", *(["-u", sudo_user] if sudo_user else []), "rsync"] if sudo else ["rsync"]
        return shlex.join(["rsync", *self.flags, "--rsh", shlex.join(ssh_command(host.data, self.ciphers)),
                           "--rsync-path", shlex.join(remote_rsync), self.src,
                           f"{ssh_destination(host)}:{self.dest}"])

    def execute(self, state, host, connector_arguments):
        command = self.command_line(host, connector_arguments.get("_sudo"),
                                    connector_arguments.get("_sudo_user"))
        if state.print_input:
            host.log(f">>> {command}")
        status, output = run_local(command, print_output=state.print_output,
                                   print_prefix=host.print_prefix)
        if status != 0:
            raise OSError(output.stderr)
        return True
