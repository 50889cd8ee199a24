"""
The rollout: each host's release applied in its wave and gated, a load balancer draining
each wave's servers first (`funasr_release`); the same waves back to each host's previous
release (`funasr_rollback`); the load balancer itself (`load_balancer`).

pyinfra identifies an operation by where it is called, and orders operations by each
host's sequence of them: every host carries each wave's gate (and, with a load balancer,
its drain and take-back), from the one loop in `funasr_release` (or `funasr_rollback`),
so each wave's gate runs before the next wave changes any host; the operations that
change a host are carried by that host in its own wave only, so a host's operations do
not grow with the number of waves.
"""

from pyinfra import host
from pyinfra.api import deploy

from ..gate import gate_for
from ..operations.apt import packages_installed
from ..operations.docker import compose_up, restart_pending
from ..operations.files import managed_paths
from ..operations.nginx import balancer_configured
from ..operations.release import release_healthy, release_rolled_back
from ..operations.systemd import unit_running
from ..pyinfra_internals import operation_hash, operation_meta
from ..render import gpu_export
from ..waves import wave_of
from .docker import engine_changes
from .firewall import firewall_changes
from .service import Staged, gpus_checked, release_files

# The load balancer: nginx with its stream module, from the distribution.
BALANCER_PACKAGES = ("nginx", "libnginx-mod-stream")


def announce_plan(settings, gpus, plan, balancer=None):
    """Log, per host, what it gets: profile, image, GPUs, wave (visible in ``--dry`` too)."""
    if balancer and balancer.active:
        host.log(f"plan: load balancer on port {balancer.port} for {len(balancer.backends)} "
                 f"{balancer.profile} servers: {', '.join(b.server for b in balancer.backends)}")
        return
    on_gpus = f", GPUs {settings.funasr_gpus} of {len(gpus)}" if settings.profile.gpu else ""
    host.log(f"plan: {settings.funasr_profile} profile, image {settings.image}{on_gpus}, "
             f"wave {wave_of(plan, settings.host) + 1} of {len(plan)}")


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
    state, op_hash = host.state, operation_hash(operation)

    def changed():
        results = {other.name: operation_meta(state, other, op_hash) for other in state.inventory
                   if other.name in names}
        return {name for name, meta in results.items()
                if meta and meta.is_complete() and meta.did_change()}
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
      changes on a host whose servers restart in this wave
      (`operations.docker.restart_pending`)

    Every host carries every wave's gate (and the balancer's operations) so that pyinfra
    runs each wave's gate before the next wave's changes; ``in_wave()`` is true in the
    host's own wave, known while deploy.py is prepared, so the operations that change a
    host are called in that wave only. ``go()`` also needs that no host has failed so far
    (changes stop at a failure).
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
    None: a rollback, always; else when `operations.docker.compose_up` is about to recreate
    them), or its Docker engine restarts (``engine``: its `EngineRelease`)."""
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
    + certificate: the host's `tls.CertificateFiles` (`service.server_certificate`); None for plain ws
    + staged: from `service.funasr_service` (the image changed; the GPU server's next start
      exports first, and its gate allows for that)
    + engine: the host's `EngineRelease` (`docker.install_docker`); None: Docker is not touched
    + firewall: the host's `FirewallRelease` (`firewall.service_firewall`), or None
    + gpus: the host's GPUs (`service.gpus_ready`), for the in-container GPU check

    Every host carries every wave's gate, so each wave's gate runs before the next
    wave's changes on any host; a host carries its changes in its own wave only, and
    they run only while no host has failed (a failed engine change, firewall or gate
    stops the rollout; a failed gate rolls its host back). A load balancer host carries
    only the drain and take-back operations.
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
    for index, (label, in_wave, go) in enumerate(waves(settings, plan, balancer, pending)):
        if settings.is_balancer:
            continue
        if in_wave():
            wave_changes(settings, label, go, files, config_sha256, staged, engine, firewall, gpus)
        # The first wave's gate also probes the later waves' hosts that already run this
        # release (a converge that changes nothing probes every server in one round).
        ahead = index == 0 and not in_wave()
        release_healthy(name=f"{label}: health gate (real utterance)",
                        gate=gate, release=release, directory=base, project=settings.funasr_project,
                        ahead=ahead, _if=lambda in_wave=in_wave, ahead=ahead: ahead or in_wave())


def wave_changes(settings, label, go, files, config_sha256, staged, engine, firewall, gpus):
    """The operations that change a host in its wave, before its gate: the engine and
    firewall changes, the configuration files, the containers (see `funasr_release`)."""
    base = settings.funasr_dir
    engine_changed = engine_changes(settings, engine, label, go) if engine else (lambda: False)
    gpus_checked(settings, gpus, label, go, lambda: engine_changed() or staged.image_changed())
    firewall_changes(settings, firewall, label, go)
    managed_paths(name=f"{label}: FunASR configuration files (previous kept)",
                  files=files, backup_dir=f"{base}/previous", _if=go)
    compose_up(name=f"{label}: FunASR server running this configuration",
               project_dir=base, project=settings.funasr_project,
               config_sha256=config_sha256, image=settings.image,
               services=[instance.service for instance in settings.instances], _if=go)


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
