"""
The named deploys deploy.py is made of: install_docker and service_firewall (what
staging needs; they return what the waves change), funasr_service (staging),
funasr_release (waves: engine, firewall and servers, health gates, rollback).

Each takes the host's validated `Settings` (and what the control node prepared for
it) and calls operations; none reads host data itself.
"""

import weakref
from dataclasses import dataclass, field
from pathlib import Path

from pyinfra import host
from pyinfra.api import HiddenValue, deploy
from pyinfra.facts.server import LinuxDistribution

from . import tls
from .digest import rendered_with_digest, sha256_bytes, sha256_text
from .hub import plan_fetch
from .images import planned_tarball
from .errors import DeployError, SettingsError
from .facts.nvidia import NvidiaGpus
from .gate import gate_for
from .operations.apt import apt_keyring, packages_installed
from .operations.docker import compose_up, docker_daemon_json, image_loaded, image_pulled, restart_pending
from .operations.files import managed_paths
from .operations.models import models_seeded
from .operations.nftables import nft_table_loaded
from .operations.nginx import balancer_configured
from .operations.nvidia import gpu_export_copied, gpus_visible
from .operations.release import release_healthy, release_rolled_back
from .operations.systemd import unit_running
from .balancer import PACKAGES as BALANCER_PACKAGES
from .waves import wave_of
from .render import (DAEMON_KNOBS, FIREWALL_TABLE, gpu_export, render_compose, render_daemon_json,
                     render_firewall, render_firewall_unit, render_hotwords)

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
# The firewall (funasr_allow_from): its ruleset file and the unit that loads it at boot.
FIREWALL_DIR = "/etc/funasr-fleet"
FIREWALL_RULESET = f"{FIREWALL_DIR}/firewall.nft"
FIREWALL_UNIT = "funasr-fleet-firewall.service"


def distribution():
    """``(id, codename)`` of the host's distribution, e.g. ``("debian", "trixie")``."""
    info = host.get_fact(LinuxDistribution)
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


def gpus_ready(settings):
    """The host's NVIDIA GPUs when its profile needs them ([] otherwise), checked.

    + settings: the host's `Settings`

    Raises `SettingsError` while deploy.py is prepared, so before any host changes,
    when a GPU-profile host has no working driver or lacks a GPU ``funasr_gpus`` names.
    Installing the NVIDIA driver is out of scope (a reboot-bound, hardware-specific job).
    """
    if not settings.profile.gpu:
        return []
    facts = host.get_fact(NvidiaGpus)
    where = f"{settings.host}: funasr_profile = {settings.funasr_profile!r}"
    if not facts["ok"]:
        raise SettingsError(
            f"{where} needs a working NVIDIA driver, but {facts['error']}; install the NVIDIA "
            "driver on this host first (funasr-fleet does not install drivers), or move the host "
            "out of the gpu group. Nothing was changed on any host.")
    wanted, present = settings.funasr_gpus, facts["gpus"]
    known = {gpu["index"] for gpu in present} | {gpu["uuid"] for gpu in present}
    missing = ([gpu for gpu in wanted if gpu not in known] if isinstance(wanted, tuple)
               else [f"{wanted} GPUs"] if isinstance(wanted, int) and wanted > len(present) else [])
    if missing:
        raise SettingsError(
            f"{settings.host}: funasr_gpus = {wanted!r} asks for {', '.join(missing)}, but "
            f"nvidia-smi lists {len(present)}: "
            f"{', '.join(gpu['index'] + ' ' + gpu['uuid'] for gpu in present)}; set funasr_gpus "
            "to GPUs this host has (or \"all\"). Nothing was changed on any host.")
    return present


def announce_plan(settings, gpus, plan, balancer=None):
    """Log, per host, what it gets: profile, image, GPUs, wave (visible in ``--dry`` too)."""
    if balancer and balancer.active:
        host.log(f"plan: load balancer on port {balancer.port} for {len(balancer.backends)} "
                 f"{balancer.profile} servers: {', '.join(b.server for b in balancer.backends)}")
        return
    on_gpus = f", GPUs {settings.funasr_gpus} of {len(gpus)}" if settings.profile.gpu else ""
    host.log(f"plan: {settings.funasr_profile} profile, image {settings.image}{on_gpus}, "
             f"wave {wave_of(plan, settings.host) + 1} of {len(plan)}")


@dataclass(frozen=True)
class EngineRelease:
    """What a host's wave changes in its Docker engine (`install_docker` returns it,
    `engine_changes` applies it): daemon.json, package pins, the NVIDIA toolkit."""

    daemon_json: str
    pinned: dict = field(default_factory=dict)  # {package: version}, upgraded in the wave
    nvidia_packages: tuple = ()  # GPU profiles: the toolkit, installed in the wave


@dataclass(frozen=True)
class FirewallRelease:
    """The ruleset a host's wave loads (`service_firewall` returns it)."""

    text: str
    config_sha256: str


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
    + go: the wave's condition (`waves`)

    A failure fails the host, so no further wave starts; with live-restore the running
    containers survive the restarts, and a load balancer drains the host first
    (`operations.docker.restart_pending` sees these changes coming). Returns a callable, true at
    execution time when the engine changed in this run.
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


@deploy("FunASR firewall")
def service_firewall(settings):
    """
    Prepare the firewall that opens the service port(s) only to ``funasr_allow_from``
    (and loopback), with nftables: the package now, the ruleset in the host's wave
    (`firewall_changes`). Returns its `FirewallRelease`, or None.

    + settings: the host's `Settings`

    Empty ``funasr_allow_from`` (the default): no firewall is managed and no operation
    is added, so a converge pays no remote command for it. Otherwise the ruleset
    (templates/firewall.nft.j2: table ``inet funasr_fleet``, a forward-hook chain for
    Docker's DNATed published ports, an input-hook chain for docker-proxy) is loaded in
    the wave when the live table lacks its digest, and a oneshot unit loads it at boot
    (not nftables.service, whose ``flush ruleset`` would drop Docker's rules too).
    """
    if not settings.funasr_allow_from:
        return None
    ruleset, config_sha256 = rendered_with_digest(lambda digest: render_firewall(settings, digest))
    packages_installed(name="nftables", packages=["nftables"])
    return FirewallRelease(text=ruleset, config_sha256=config_sha256)


def firewall_changes(settings, firewall, label, go):
    """
    The host's firewall, in its wave: the ruleset loaded (undone on the spot when it
    drops this control node's probe, failing the host), then its boot unit.

    + settings: the host's `Settings`
    + firewall: its `FirewallRelease` (`service_firewall`), or None: nothing to do
    + label, go: the wave's label and condition (`waves`)
    """
    if firewall is None:
        return
    nft_table_loaded(name=f"{label}: firewall table {FIREWALL_TABLE} (probe checked)",
                     path=FIREWALL_RULESET, table=FIREWALL_TABLE, text=firewall.text,
                     config_sha256=firewall.config_sha256,
                     probe_urls=[instance.probe_url for instance in settings.instances], _if=go)
    managed_paths(
        name=f"{label}: firewall loaded at boot (unit file)",
        files=[(f"/etc/systemd/system/{FIREWALL_UNIT}", render_firewall_unit(FIREWALL_RULESET), "644")],
        _if=go)
    unit_running(name=f"{label}: firewall loaded at boot", unit=FIREWALL_UNIT, _if=go)


def server_certificate(settings, balancer=None, dry=False):
    """The host's server certificate and key on the control node, or None for plain ws.

    + settings: the host's `Settings`
    + balancer: the fleet's `funasr_fleet.balancer.Balancer` (None: none); its hosts'
      names go into generated certificates too, since clients reach the servers through it
    + dry: a ``--dry`` run: nothing is created or issued; logs what a real run would
      issue and returns a `tls.PlannedCertificate` for it (the kept files otherwise)

    ``funasr_tls = "files"``: the operator's files. ``"generated"``: the certificate the
    fleet CA issued for the host's names (`Settings.tls_sans`), issued now when the host
    has none or its names changed (logged, never the key). A control-node input: call it
    while the deploy is prepared, before any host changes.

    **Example:**

    .. code:: python

        certificate = server_certificate(settings)  # tls.CertificateFiles or None
    """
    if settings.funasr_tls == "files":
        return tls.CertificateFiles(cert=Path(settings.funasr_tls_cert), key=Path(settings.funasr_tls_key))
    if settings.funasr_tls != "generated":
        return None
    names = tuple(dict.fromkeys(settings.tls_sans + tuple(
        tls.san_name(name) for name in (balancer.names if balancer else ()))))
    if dry:
        planned = tls.plan_host_certificate(settings.funasr_tls_dir, settings.host, names)
        if isinstance(planned, tls.PlannedCertificate):
            ca = (f"create the fleet CA in {tls.ca_files(settings.funasr_tls_dir).cert.parent} and "
                  if planned.new_ca else "")
            host.log(f"dry run: would {ca}issue a new TLS certificate into "
                     f"{planned.files.cert.parent} ({planned.reason}): {', '.join(names)}")
        return planned
    issued = tls.host_certificate(settings.funasr_tls_dir, settings.host, names)
    if issued.reason:
        host.log(f"TLS: new certificate from the fleet CA ({issued.reason}): {', '.join(names)}")
    return issued.files


# Hub listings a --dry run has read, per pyinfra run: planning a revision for many hosts
# lists it once, as a real run fetches it once.
_DRY_LISTINGS = weakref.WeakKeyDictionary()


def planned_inputs(settings):
    """``--dry``: the image tarball and model set a real run would prepare on the control
    node for this host, found without changing anything there (no download, no
    ``docker save``, no directory or lock file); logs what it would fetch and save.

    + settings: the host's (server's) `Settings`

    Returns ``(delivery, cached_models)`` as deploy.py's real calls would, so the host's
    plan shows the same changes: the models carry the manifest digests the fetch would
    write (from the hub's listing), the tarball the path it would be saved to.
    """
    delivery = None
    if settings.funasr_image_delivery == "tarball":
        delivery, would_save = planned_tarball(settings.image, settings.funasr_image_cache_dir)
        if would_save:
            host.log(f"dry run: would save image {settings.image} ({delivery.image_id}) with "
                     f"docker save into {delivery.path}")
    listings = _DRY_LISTINGS.setdefault(host.state, {})
    plans = [plan_fetch(settings.funasr_models_endpoint, spec, settings.funasr_models_cache_dir,
                        listings=listings)
             for spec in dict.fromkeys(settings.funasr_models.values())]
    for plan in plans:
        if plan.cached:
            continue
        spec, files = plan.model.spec, plan.files
        listed = ", ".join(f"{entry['path']} {entry['size']:,}" for entry in files)
        resumed = (" (the rest of a cut download)"
                   if plan.download_bytes < sum(entry["size"] for entry in files) else "")
        host.log(f"dry run: would fetch {spec.id}@{spec.revision} into {plan.model.directory}: "
                 f"{len(files)} files, {plan.download_bytes:,} bytes{resumed}: {listed}")
    return delivery, [plan.model for plan in plans]


def service_inputs(settings, certificate):
    """The hotwords text a host's service directory gets, and the digests of its inputs.

    + settings: the host's `Settings`
    + certificate: the host's `tls.CertificateFiles` or, in ``--dry``, `tls.PlannedCertificate`
      (`server_certificate`), or None
    """
    if (certificate is None) != (settings.funasr_tls == "off"):
        raise DeployError(f"{settings.host}: funasr_tls = {settings.funasr_tls!r} needs "
                          f"{'a' if certificate is None else 'no'} server certificate")
    hotwords_text = render_hotwords(settings)
    digests = {"hotwords": sha256_text(hotwords_text)}
    if certificate:
        cert, key = certificate.contents()
        digests["tls"] = sha256_text(sha256_bytes(cert) + sha256_bytes(key))
    return hotwords_text, digests


def compose_with_digest(settings, digests):
    """compose.yaml text and its ``config`` digest (sha256 of the file rendered without it)."""
    return rendered_with_digest(lambda config: render_compose(
        settings, {**digests, "config": config} if config else digests))


def release_files(settings, cached_models, certificate):
    """The files of a host's release and the config digest its containers will carry.

    + settings: the host's `Settings`
    + cached_models: the host's `CachedModel` items (their digests are in the config)
    + certificate: the host's `tls.CertificateFiles` (`server_certificate`), or None

    Returns ``(files, config_sha256)``; ``files`` are ``(path, content, mode)`` for
    hotwords.txt, TLS files and compose.yaml (last). The key's content is a
    ``HiddenValue``, so it shows nowhere pyinfra prints operation arguments.
    """
    base = settings.funasr_dir
    hotwords_text, digests = service_inputs(settings, certificate)
    digests["models"] = sha256_text("".join(sorted(m.manifest_sha256 for m in cached_models)))
    compose_text, config_sha256 = compose_with_digest(settings, digests)
    files = [(f"{base}/hotwords.txt", hotwords_text, "644")]
    if certificate:
        cert, key = certificate.contents()
        files += [(f"{base}/ssl/server.crt", cert, "644"),
                  (f"{base}/ssl/server.key", HiddenValue(key), "600")]
    files.append((f"{base}/compose.yaml", compose_text, "644"))
    return files, config_sha256


def docker_gpus_value(settings, gpus):
    """``(docker run --gpus value, how many GPUs it gives)`` for the host's reservation."""
    wanted = settings.funasr_gpus
    if wanted == "all":
        return "all", len(gpus)
    if isinstance(wanted, int):
        return str(wanted), wanted
    return f'"device={",".join(wanted)}"', len(wanted)


@dataclass(frozen=True)
class Staged:
    """What `funasr_service` staged that the host's wave needs to know, as callables
    true at execution time: the image changed (pulled or loaded in this run), the GPU
    server's export copy was made in this run (its next start exports first)."""

    image_changed: object = lambda: False
    exporting: object = lambda: False


@deploy("FunASR service")
def funasr_service(settings, delivery, cached_models, registry_password=""):
    """
    Stage what a release needs on the host, without touching the running server: the
    service directories, the models and the image (pulled or loaded before any wave, so
    a server's outage never includes a transfer).

    + settings: the host's `Settings`
    + delivery: an `funasr_fleet.images.ImageTarball` (tarball delivery) or None (pull)
    + cached_models: `funasr_fleet.models.CachedModel` items for the host's model set
    + registry_password: registry password for pull (kept hidden)

    Returns the `Staged` callables for `funasr_release`.
    """
    base = settings.funasr_dir
    managed_paths(name="FunASR service directories",
                  directories=[(base, "755"), (f"{base}/models", "755"), (f"{base}/ssl", "700")])
    models_seeded(name="FunASR models seeded", models_dir=f"{base}/models",
                  cached_models=cached_models,
                  ciphers=settings.funasr_models_ssh_ciphers)
    if delivery is None:
        image = image_pulled(name=f"FunASR image {settings.image}", image=settings.image,
                             username=settings.funasr_registry_username,
                             password=HiddenValue(registry_password))
    else:
        image = image_loaded(name=f"FunASR image {settings.image} (tarball)",
                             tarball=delivery)
    export = gpu_export(settings)
    copied = export and gpu_export_copied(
        name="GPU server's writable model copy (TorchScript export)", export=export,
        image=settings.image)
    return Staged(image_changed=image.did_change, exporting=lambda: bool(copied and copied.did_change()))


def gpus_checked(settings, gpus, label, go, changed):
    """In the host's wave, on GPU profiles with ``nvidia_verify_in_container``: a
    container started from the image lists the GPUs the server gets (``nvidia-smi -L``),
    when ``changed()`` (the engine or the image changed in this run; a no-op converge
    starts no container)."""
    if not (settings.profile.gpu and settings.nvidia_verify_in_container):
        return
    value, expected = docker_gpus_value(settings, gpus)
    gpus_visible(name=f"{label}: GPUs visible in a container (nvidia-smi -L)",
                 image=settings.image, gpus=value, expected=expected,
                 _if=lambda: go() and changed())


def failed_hosts():
    """Callable for execution time: names of the hosts that have failed so far."""
    state = host.state
    return lambda: {failed.name for failed in state.failed_hosts}


def changed_on(operation, names):
    """Callable for execution time: those of ``names`` where ``operation`` changed something.

    + operation: what this host's copy of an operation returned; every host registers
      it at the same place in the deploy, so it has the same hash (pyinfra's op identity)
      on every host, and each host's outcome is read from pyinfra's state by that hash
    + names: the host names to look at
    """
    state, op_hash = host.state, operation._hash

    def changed():
        results = {other.name: state.ops.get(other, {}).get(op_hash) for other in state.inventory
                   if other.name in names}
        return {name for name, data in results.items()
                if data and data.operation_meta.is_complete() and data.operation_meta.did_change()}
    return changed


def rollout_stopped(failed, unreachable):
    """Whether no further wave may change a host: one of ``failed`` (the run's failed
    hosts) failed while the run executes. Those in ``unreachable`` could not be reached
    at the start; they are left out of the run and do not stop it."""
    return bool(set(failed) - set(unreachable))


def waves(settings, plan, balancer=None, pending=None):
    """Yield ``(label, in_wave, go)`` for every wave of ``plan``, on every host.

    + settings: this host's `Settings`
    + plan: the fleet's waves (`funasr_fleet.waves.inventory_plan`)
    + balancer: the fleet's `funasr_fleet.balancer.Balancer` as this host sees it, or None
    + pending: with a balancer, ``pending(label, go)`` registers the operation that
      changes on a host whose servers restart in this wave (`operations.docker.restart_pending`)

    Every host carries every wave's operations so that pyinfra runs each wave's gate
    before the next wave's changes. ``in_wave()`` is true in the host's own wave;
    ``go()`` also needs that no host has failed so far (changes stop at a failure).
    Both are for ``_if=``, evaluated when the operation executes (hosts unreachable at
    the start do not count as failed: they simply do not change). With a balancer, each
    wave's servers that are about to restart are drained before the loop body's
    operations and put back after them (its health gate), unless their host failed.
    """
    mine, state = wave_of(plan, settings.host), host.state
    failed = failed_hosts()
    # Hosts that could not be reached at the start are left out of the run, and do not
    # stop the rollout; a host that fails while the run executes does.
    unreachable = set(state.failed_hosts)
    for wave in host.loop(range(len(plan))):
        label = f"Wave {wave + 1}/{len(plan)}"
        go = lambda wave=wave: wave == mine and not rollout_stopped(state.failed_hosts, unreachable)  # noqa: E731
        if balancer:
            restarting = changed_on(pending(label, go), set(plan[wave]))
            balancer_configured(
                name=f"{label}: load balancer drains the servers about to restart",
                balancer=balancer, down=lambda restarting=restarting: restarting() | failed(),
                drain=True)
        yield label, lambda wave=wave: wave == mine, go
        if balancer:
            balancer_configured(
                name=f"{label}: load balancer takes the healthy servers back",
                balancer=balancer, down=failed)


@deploy("Load balancer")
def load_balancer(settings, balancer):
    """
    nginx with its stream module from the distribution, configured with every server of
    the fleet's profile (failed hosts left out), enabled and running.

    + settings: the balancer host's `Settings`
    + balancer: its active `funasr_fleet.balancer.Balancer`
    """
    packages_installed(name="nginx with the stream module", packages=list(BALANCER_PACKAGES))
    balancer_configured(name=f"Load balancer for {len(balancer.backends)} "
                        f"{balancer.profile} servers on port {balancer.port}",
                        balancer=balancer, down=failed_hosts())
    unit_running(name="nginx enabled and running", unit="nginx.service")


def release_pending(settings, config_sha256, engine=None):
    """``pending`` for `waves`: the host's servers restart in its wave (``config_sha256``
    None: a rollback, always; else when `operations.docker.compose_up` is about to recreate them),
    or its Docker engine restarts (``engine``: its `EngineRelease`)."""
    services = [] if settings.is_balancer else [instance.service for instance in settings.instances]

    def pending(label, go):
        return restart_pending(name=f"{label}: servers about to restart",
                               project=settings.funasr_project, image=settings.image,
                               services=services, config_sha256=config_sha256,
                               daemon_json=engine.daemon_json if engine else None,
                               pinned=engine.pinned if engine else None, _if=go)
    return pending


@deploy("FunASR release")
def funasr_release(settings, cached_models, plan, balancer=None, certificate=None,
                   staged=Staged(), engine=None, firewall=None, gpus=()):
    """
    Apply the host's release in its wave: its Docker engine and firewall changes, the
    configuration (keeping the previous release's files), the containers recreated,
    then the health gate (record or roll back).

    + settings: the host's `Settings`
    + cached_models: the host's `CachedModel` items (their digests are in the config)
    + plan: the fleet's waves (`funasr_fleet.waves.inventory_plan`)
    + balancer: the fleet's `Balancer` as this host sees it (None: no load balancer)
    + certificate: the host's `tls.CertificateFiles` (`server_certificate`); None for plain ws
    + staged: from `funasr_service` (the image changed; the GPU server's next start
      exports first, and its gate allows for that)
    + engine: the host's `EngineRelease` (`install_docker`); None: Docker is not touched
    + firewall: the host's `FirewallRelease` (`service_firewall`), or None
    + gpus: the host's GPUs (`gpus_ready`), for the in-container GPU check

    Every host carries every wave's operations, so each wave's gate runs before the
    next wave's changes on any host; a host changes only in its own wave, and only while
    no host has failed (a failed engine change, firewall or gate stops the rollout; a
    failed gate rolls its host back). A load balancer host carries only the drain and
    take-back operations.
    """
    files, config_sha256 = (((), None) if settings.is_balancer
                            else release_files(settings, cached_models, certificate))
    release = {"version": settings.funasr_version, "image": settings.image,
               "config_sha256": config_sha256,
               "models": sorted(model.spec.dirname for model in cached_models)}
    export = None if settings.is_balancer else gpu_export(settings)
    if export:
        release["exports"] = [export.key]
    base = settings.funasr_dir
    gate = gate_for(settings, staged.exporting)
    pending = release_pending(settings, config_sha256, engine)
    # One loop (one call site) for every host: pyinfra identifies an operation by where it
    # is called, and the balancer's copies must be the servers' copies.
    for label, in_wave, go in waves(settings, plan, balancer, pending):
        if settings.is_balancer:
            continue
        engine_changed = engine_changes(settings, engine, label, go) if engine else (lambda: False)
        gpus_checked(settings, gpus, label, go, lambda: engine_changed() or staged.image_changed())
        firewall_changes(settings, firewall, label, go)
        managed_paths(name=f"{label}: FunASR configuration files (previous kept)",
                      files=files, backup_dir=f"{base}/previous", _if=go)
        compose_up(name=f"{label}: FunASR server running this configuration",
                   project_dir=base, project=settings.funasr_project,
                   config_sha256=config_sha256, image=settings.image,
                   services=[instance.service for instance in settings.instances], _if=go)
        release_healthy(name=f"{label}: health gate (real utterance)",
                        gate=gate, release=release, directory=base,
                        project=settings.funasr_project, _if=in_wave)


@deploy("FunASR rollback")
def funasr_rollback(settings, plan, balancer=None):
    """
    Roll the host back to its previous release in its wave, gated like a release.

    + settings: the host's `Settings`
    + plan: the fleet's waves (`funasr_fleet.waves.inventory_plan`)
    + balancer: the fleet's `Balancer` as this host sees it (None: no load balancer)
    """
    for label, _, go in waves(settings, plan, balancer, release_pending(settings, None)):
        if not settings.is_balancer:
            release_rolled_back(name=f"{label}: previous release back",
                                gate=gate_for(settings), directory=settings.funasr_dir,
                                project=settings.funasr_project, _if=go)
