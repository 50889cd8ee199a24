"""Manage Debian packages and apt repository keys."""

from pyinfra import host
from pyinfra.api import StringCommand, operation
from pyinfra.api.command import QuoteString

from ..facts.apt import DebPackageVersions, KeyringFingerprints
from ..facts.batch import read, reads


APT_ENV = "DEBIAN_FRONTEND=noninteractive"


@reads(lambda packages, **_: [(DebPackageVersions, {"packages": packages})])
@operation()
def packages_installed(packages, versions=None, upgrade=True):
    """
    Install Debian packages that are missing (or not at the pinned version).

    + packages: package names
    + versions: optional ``{name: version}`` pins
    + upgrade: False: only missing packages are installed (at their pin); an installed
      package at another version is left for a later operation (e.g. in the host's wave)

    ``apt-get update`` runs only when something must be installed, so a converged
    host costs one ``dpkg-query``.

    **Example:**

    .. code:: python

        packages_installed(
            name="Install Docker Engine",
            packages=["docker.io", "docker-compose"],
        )
    """
    versions = versions or {}
    installed = read(DebPackageVersions, packages=packages)
    wanted = [
        f"{name}={versions[name]}" if versions.get(name) else name
        for name in packages
        if name not in installed or (upgrade and versions.get(name) and installed[name] != versions[name])
    ]
    if wanted:
        yield f"{APT_ENV} apt-get update -q"
        yield StringCommand(APT_ENV, "apt-get", "install", "-y", "-q", "--no-install-recommends",
                            *[QuoteString(item) for item in wanted])


@reads(lambda path, **_: [(KeyringFingerprints, {"path": path})])
@operation()
def apt_keyring(url, fingerprint, path):
    """
    Install an apt repository signing key, refusing one with the wrong fingerprint.

    + url: where the key is published (overridable for mirrors)
    + fingerprint: the 40-hex-digit fingerprint the key must have
    + path: keyring file for ``signed-by=`` (``.asc`` for an armored key)

    The key is downloaded to a temporary file on the host and moved into place only
    when ``gpg --show-keys`` reports the expected fingerprint; otherwise the operation
    fails and the previous keyring (if any) stays.

    **Example:**

    .. code:: python

        apt_keyring(url="https://download.docker.com/linux/debian/gpg",
                    fingerprint="9DC858229FC7DD38854AE2D88D81803C0EBFCD88",
                    path="/etc/apt/keyrings/docker.asc")
    """
    if fingerprint in read(KeyringFingerprints, path=path):
        return
    temporary = f"{path}.funasr-fleet-new"
    directory = path.rpartition("/")[0] or "/"
    yield StringCommand("install", "-d", "-m", "755", QuoteString(directory))
    yield StringCommand("curl", "-fsSL", "--retry", "3", "-o", QuoteString(temporary), QuoteString(url))
    yield StringCommand(
        "if", "gpg", "--show-keys", "--with-colons", QuoteString(temporary),
        "|", "awk", "-F:", QuoteString('$1 == "fpr" {print $10}'), "|", "grep", "-qx",
        QuoteString(fingerprint), ";", "then", "chmod", "644", QuoteString(temporary), "&&",
        "mv", "-f", QuoteString(temporary), QuoteString(path), ";", "else", "rm", "-f",
        QuoteString(temporary), ";", "echo", QuoteString(
            f"key at {url} does not have fingerprint {fingerprint}; refusing it"),
        ">&2", ";", "exit", "1", ";", "fi",
    )
