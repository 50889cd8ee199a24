"""
Docker Engine: installed where it is missing, before the waves (`install_docker`), and
the engine changes of a host's release, in its wave (`engine_changes`): daemon.json, the
pinned versions, the NVIDIA Container Toolkit.
"""

from dataclasses import dataclass, field

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.facts.server import LinuxDistribution

from ..errors import SettingsError
from ..facts.batch import read
from ..operations.apt import apt_keyring, packages_installed
from ..operations.docker import docker_daemon_json
from ..operations.files import managed_paths
from ..operations.systemd import unit_running
from ..render import DAEMON_KNOBS, render_daemon_json


DOCKER_REPO_PACKAGES = ("docker-ce", "docker-ce-cli", "containerd.io",
                        "docker-buildx-plugin", "docker-compose-plugin")
# Distribution packages of Docker Engine, its CLI and compose v2, by distribution id
# (Debian 13 moved the CLI to docker-cli), and the releases without compose v2.
DISTRO_PACKAGES = {"debian": ("docker.io", "docker-cli", "docker-compose"),
                   "ubuntu": ("docker.io", "docker-compose-v2")}
NO_COMPOSE_V2 = {"debian": ("buster", "bullseye", "bookworm"), "ubuntu": ("bionic", "focal")}
DOCKER_KEYRING = "/etc/apt/keyrings/docker.asc"
# NVIDIA pins its four toolkit packages at one version.
NVIDIA_PACKAGES = ("nvidia-container-toolkit", "nvidia-container-toolkit-base",
                   "libnvidia-container-tools", "libnvidia-container1")
NVIDIA_KEYRING = "/etc/apt/keyrings/nvidia-container-toolkit.asc"
NVIDIA_SOURCES = "/etc/apt/sources.list.d/nvidia-container-toolkit.list"


def distribution():
    """``(id, codename)`` of the host's distribution, e.g. ``("debian", "trixie")``."""
    info = read(LinuxDistribution)
    release = info.get("release_meta") or {}
    return (release.get("ID") or (info.get("name") or "").lower(),
            release.get("VERSION_CODENAME") or "")


def docker_packages(settings, distro_id, codename):
    """Docker Engine package names for the settings' source on the host's distribution.

    Raises `SettingsError` (before anything changes) when the distribution cannot
    provide Docker Engine with compose v2 from its own packages.
    """
    if settings.docker_source == "docker-repo":
        return DOCKER_REPO_PACKAGES
    if distro_id not in DISTRO_PACKAGES or codename in NO_COMPOSE_V2.get(distro_id, ()):
        raise SettingsError(
            f"{settings.host}: docker_source = 'distro' cannot install Docker with compose v2 on "
            f"{distro_id or 'this distribution'} {codename}; set docker_source = 'docker-repo' "
            "for this host or group (Docker's apt repo, or your mirror of it: docker_repo_url)",
        )
    return DISTRO_PACKAGES[distro_id]


def docker_repo_sources(settings, distro_id, codename, arch="amd64"):
    """deb822 text of Docker's apt repository, signed by the checked keyring."""
    return (
        "Types: deb\n"
        f"URIs: {settings.docker_repo_url}/{distro_id}\n"
        f"Suites: {codename}\n"
        "Components: stable\n"
        f"Architectures: {arch}\n"
        f"Signed-By: {DOCKER_KEYRING}\n"
    )


@dataclass(frozen=True)
class EngineRelease:
    """What a host's wave changes in its Docker engine (`install_docker` returns it,
    `engine_changes` applies it): daemon.json, package pins, the NVIDIA toolkit."""

    daemon_json: str
    pinned: dict = field(default_factory=dict)  # {package: version}, upgraded in the wave
    nvidia_packages: tuple = ()  # GPU profiles: the toolkit, installed in the wave


def nvidia_repo(settings):
    """NVIDIA's apt repo for the Container Toolkit (key fingerprint checked): a source
    only, the packages come in the host's wave (`engine_changes`)."""
    apt_keyring(name="NVIDIA repo key (fingerprint checked)",
                url=f"{settings.nvidia_repo_url}/gpgkey",
                fingerprint=settings.nvidia_repo_key_fingerprint, path=NVIDIA_KEYRING)
    managed_paths(name="NVIDIA Container Toolkit apt repo", files=[(
        NVIDIA_SOURCES,
        f"deb [signed-by={NVIDIA_KEYRING}] {settings.nvidia_repo_url}/stable/deb/$(ARCH) /\n",
        "644")])


@deploy("Install Docker Engine")
def install_docker(settings):
    """
    Docker Engine and compose v2 where they are missing, so that staging can pull and
    load images: the apt source, the packages (at ``docker_version`` when pinned),
    daemon.json where Docker does not run (before its first start, or where an earlier
    run left it stopped or failed), the service enabled and running (a unit left failed
    is reset). GPU-profile hosts also get NVIDIA's apt source.

    + settings: the host's `Settings`

    An installed engine is not changed here: a new daemon.json, a new ``docker_version``
    or ``nvidia_toolkit_version`` and the NVIDIA toolkit itself are part of the host's
    release, applied in its wave (`engine_changes`), canary first. Returns that
    `EngineRelease`.
    """
    distro_id, codename = distribution()
    packages = docker_packages(settings, distro_id, codename)
    if settings.docker_source == "docker-repo" or settings.profile.gpu:
        packages_installed(name="Tools for signed apt repos",
                           packages=["ca-certificates", "curl", "gpg"])
    if settings.docker_source == "docker-repo":
        apt_keyring(name="Docker's repo key (fingerprint checked)",
                    url=f"{settings.docker_repo_url}/{distro_id}/gpg",
                    fingerprint=settings.docker_repo_key_fingerprint,
                    path=DOCKER_KEYRING)
        managed_paths(name="Docker's apt repo",
                      files=[("/etc/apt/sources.list.d/docker.sources",
                              docker_repo_sources(settings, distro_id, codename), "644")])
    if settings.profile.gpu:
        nvidia_repo(settings)
    daemon_json = render_daemon_json(settings)
    docker_daemon_json(name="Docker daemon.json where Docker is not running",
                       text=daemon_json, knobs=DAEMON_KNOBS, only_if_stopped=True)
    pinned = {packages[0]: settings.docker_version} if settings.docker_version else {}
    packages_installed(name="Docker Engine packages (where missing)",
                       packages=list(packages), versions=pinned, upgrade=False)
    unit_running(name="Docker enabled and running", unit="docker.service")
    nvidia = NVIDIA_PACKAGES if settings.profile.gpu else ()
    if settings.nvidia_toolkit_version:
        pinned.update({name: settings.nvidia_toolkit_version for name in nvidia})
    return EngineRelease(daemon_json=daemon_json, pinned=pinned, nvidia_packages=nvidia)


def engine_changes(settings, engine, label, go):
    """
    The host's Docker engine changes, in its wave (before its servers change): daemon.json
    (checked by dockerd, Docker restarted, the previous file restored when Docker does not
    come back), the pinned engine version, the NVIDIA toolkit (Docker restarted to see it).

    + settings: the host's `Settings`
    + engine: its `EngineRelease` (`install_docker`)
    + label: the wave's label, for the operations' names
    + go: the wave's condition (`rollout.waves`)

    A failure fails the host, so no further wave starts; with live-restore the running
    containers survive the restarts, and a load balancer drains the host first
    (`operations.docker.restart_pending` sees these changes coming). Returns a callable,
    true at execution time when the engine changed in this run.
    """
    daemon = docker_daemon_json(
        name=f"{label}: Docker daemon.json (checked; restarted, restored on failure)",
        text=engine.daemon_json, knobs=DAEMON_KNOBS, _if=go)
    changes = [daemon]
    engine_pins = {name: version for name, version in engine.pinned.items()
                   if name not in engine.nvidia_packages}
    if engine_pins:
        changes.append(packages_installed(
            name=f"{label}: Docker Engine at docker_version", packages=list(engine_pins),
            versions=engine_pins, _if=go))
    if engine.nvidia_packages:
        toolkit = packages_installed(
            name=f"{label}: NVIDIA Container Toolkit", packages=list(engine.nvidia_packages),
            versions={name: version for name, version in engine.pinned.items()
                      if name in engine.nvidia_packages}, _if=go)
        # A new toolkit must be seen by a running docker (its GPU device driver registers
        # at start); a changed daemon.json restarted docker already.
        unit_running(name=f"{label}: restart Docker (NVIDIA toolkit changed)",
                     unit="docker.service", restart=True,
                     _if=lambda: go() and toolkit.did_change())
        changes.append(toolkit)
    if engine_pins or engine.nvidia_packages:
        unit_running(name=f"{label}: Docker running after the engine change",
                     unit="docker.service", _if=go)
    return lambda: any(change.did_change() for change in changes)
