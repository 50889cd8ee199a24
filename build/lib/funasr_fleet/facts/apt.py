"""Read Debian packages and apt keyrings."""

import shlex

from pyinfra.api import FactBase


class DebPackageVersions(FactBase):
    """
    Installed versions of the named Debian packages: ``{name: version}``; absent ones missing.

    .. code:: python

        host.get_fact(DebPackageVersions, packages=["docker.io", "docker-compose"])
    """

    def requires_command(self, packages):
        return "dpkg-query"

    def command(self, packages):
        names = " ".join(shlex.quote(name) for name in packages)
        return f"dpkg-query -W -f '${{db:Status-Status}}\\t${{Package}}\\t${{Version}}\\n' {names} 2>/dev/null || true"

    def process(self, output):
        versions = {}
        for line in output:
            status, name, version = (line.split("\t") + ["", "", ""])[:3]
            if status == "installed":
                versions[name] = version
        return versions

    def default(self):
        return {}


class KeyringFingerprints(FactBase):
    """
    Fingerprints of the OpenPGP keys in a keyring file (armored or binary); [] if absent.

    .. code:: python

        host.get_fact(KeyringFingerprints, path="/etc/apt/keyrings/docker.asc")
    """

    def requires_command(self, path):
        return "gpg"

    def command(self, path):
        return (f"[ ! -f {shlex.quote(path)} ] || gpg --show-keys --with-colons {shlex.quote(path)} "
                "2>/dev/null | awk -F: '$1 == \"fpr\" {print $10}'")

    def process(self, output):
        return [line.strip() for line in output if line.strip()]

    def default(self):
        return []
