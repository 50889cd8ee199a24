"""
The whole fleet, as deploy.py and rollback.py run it: `converge` and `rollback`. Another
project's pyinfra deploy file is two lines:

    from funasr_fleet.deploys.fleet import converge
    converge()

Each reads pyinfra's current host, inventory and state (as a deploy file's module-level
code would) and calls the named deploys of this package.
"""

import sys
import threading
import weakref

from pyinfra import config, host, inventory, state
from pyinfra.facts.server import LinuxDistribution

from ..balancer import check_limit, fleet_balancer
from ..errors import SettingsError
from ..facts.batch import want
from ..facts.nvidia import NvidiaGpus
from ..facts.server import HostAccess
from ..hub import FetchTally, fetch_models
from ..images import prepare_tarball
from ..pyinfra_internals import dry_run, size_parallel_to_fleet, use_fast_pyinfra, uses_sudo
from ..settings import check_inventory, load_settings
from ..waves import inventory_plan
from .docker import install_docker
from .firewall import service_firewall
from .rollout import announce_plan, funasr_release, funasr_rollback, load_balancer
from .service import Staged, funasr_service, gpus_ready, planned_inputs, server_certificate


def validated_settings():
    """The current host's `Settings`. Every host's data is validated once, while the run's
    first reachable host is prepared: a bad value on any host (reachable or not, in
    --limit or not) stops the run before any operation executes (operations start only
    after every host is prepared); so is a --limit that leaves out the load balancer in
    front of targeted servers."""
    if host.name == next(candidate.name for candidate in inventory if candidate in state.active_hosts):
        check_inventory(inventory)
        check_limit(inventory, state.limit_hosts, sys.argv)
    return load_settings(host)


def access_problem(name, access, sudo):
    """What keeps the run from changing host ``name``, or None: one line naming the
    host, what is wrong and the fix.

    + name: the host's inventory name
    + access: its `facts.server.HostAccess`
    + sudo: whether the run changes the host with sudo (pyinfra's ``_sudo``)
    """
    user = access["user"] or "the SSH user"
    nopasswd = (f"add `{access['user'] or 'USER'} ALL=(ALL) NOPASSWD:ALL` to "
                "/etc/sudoers.d/funasr-fleet on the host")
    root = 'set ssh_user = "root"'
    wrong, fix = None, f"{nopasswd}, or {root}"
    if not sudo:
        if access["uid"] not in (0, None):
            wrong = f"user {user} is not root and the run does not use sudo"
            fix = f"set _sudo = True and {nopasswd}, or {root}"
    elif access["sudo"] == "missing":
        wrong = "the run uses sudo (_sudo), but sudo is not installed"
        fix = ("set _sudo = False (the user is root)" if access["uid"] == 0
               else f"install sudo and {nopasswd}, or {root} and _sudo = False")
    elif access["sudo"] == "password":
        wrong = f"user {user} cannot run sudo without a password"
    elif access["sudo"] == "failed":
        wrong = f"user {user} cannot run sudo ({access['sudo_error']})"
    return f"{name}: {wrong}; {fix}." if wrong else None


def access_unknown(ssh_user, sudo):
    """Whether a run must read a host's access (`facts.server.HostAccess`) before it
    reads anything there with sudo: unless it logs in as root, when it uses sudo, or logs
    in as a named user (who may not be root) without it. A root login, or a run without
    sudo as the SSH client's default user, costs no command."""
    return ssh_user != "root" and bool(sudo or ssh_user)


def check_access(settings):
    """Refuse the run when the current host's user cannot change it; one command, read
    without pyinfra's sudo, and only where `access_unknown` says so.

    + settings: the host's `Settings`

    Call it before anything is read on the host with sudo: pyinfra's own sudo stops the
    run at a password prompt (or, without a terminal, in a traceback). Raises
    `SettingsError` while deploy.py is prepared, so before any host changes: its user
    cannot run sudo without a password (or sudo is missing) while the run uses sudo, or
    is not root while the run does not use sudo.
    """
    sudo = uses_sudo(host)
    if not access_unknown(host.data.get("ssh_user"), sudo):
        return
    access = host.get_fact(HostAccess, sudo=sudo, _sudo=False)
    problem = access_problem(settings.host, access, sudo)
    if problem:
        raise SettingsError(f"{problem} Nothing was changed on any host.")


def prepare_reads(settings):
    """Declare the facts this host's deploy reads while it is prepared (its distribution,
    and a GPU profile's GPUs), so they are read in one command (`facts.batch`), and
    not again when it executes."""
    if settings.is_balancer:
        return
    want(LinuxDistribution, stages=("prepare",))
    if settings.profile.gpu:
        want(NvidiaGpus, stages=("prepare",))


# What the control node prepared in this pyinfra run (its State), by what it is.
_PREPARED = weakref.WeakKeyDictionary()


def once_per_run(key, prepare):
    """``prepare()``, called once per pyinfra run for each ``key``: hosts are prepared
    concurrently, and those that need the same thing wait for the first one's result
    (a failure is not kept: the next host tries again)."""
    entry = _PREPARED.setdefault(host.state, {}).setdefault(key, {"lock": threading.Lock()})
    with entry["lock"]:
        if "value" not in entry:
            entry["value"] = prepare()
    return entry["value"]


def control_node_inputs(settings, dry):
    """``(delivery, cached_models)``: the image tarball (tarball delivery, else None) and
    the model set, prepared on the control node once per run and checked before any
    host is touched; with ``dry`` (pyinfra --dry) planned read-only instead. The host whose
    preparation fetched models logs what came from the hub and what from the cache."""
    if dry:
        return planned_inputs(settings)
    delivery = (once_per_run(("tarball", settings.image, settings.funasr_image_cache_dir),
                             lambda: prepare_tarball(settings.image, settings.funasr_image_cache_dir))
                if settings.funasr_image_delivery == "tarball" else None)
    specs = list(settings.funasr_models.values())
    return delivery, once_per_run(
        ("models", settings.funasr_models_endpoint, tuple(specs), settings.funasr_models_cache_dir),
        lambda: fetched_models(settings.funasr_models_endpoint, specs, settings.funasr_models_cache_dir))


def fetched_models(endpoint, specs, cache_dir):
    """`fetch_models`, logging (on the current host) what came from the hub and what
    from the cache when anything was fetched."""
    tally = FetchTally()
    cached_models = fetch_models(endpoint, specs, cache_dir, tally=tally)
    if tally.files_fetched:
        host.log(tally.line())
    return cached_models


def converge():
    """Converge the current host as part of the fleet: validation, the host's access
    (its user and sudo), the plan line, the control-node inputs, Docker where missing,
    staging (models, image), then the release wave by wave (engine and firewall changes,
    configuration, containers, health gate, rollback), with the load balancer draining
    each wave."""
    use_fast_pyinfra()
    settings = validated_settings()
    # Every host of the run at once (pyinfra's default is 20 per CPU core): a no-op then
    # waits for one round of fact reads and one of each gate's probes, whatever the fleet.
    size_parallel_to_fleet(state, config)
    # Its user can change it (sudo without a password, or root): checked before any read.
    check_access(settings)
    prepare_reads(settings)
    dry = dry_run()
    # Waves over the hosts this run targets (--limit/--exclude), canary first.
    plan = inventory_plan(inventory, settings, state.limit_hosts)
    # With a load balancer group (funasr_lb_group), its hosts run nginx in front of the servers.
    balancer = fleet_balancer(inventory, settings)
    # GPU profiles: a working driver and the GPUs funasr_gpus names, checked before any change.
    gpus = [] if settings.is_balancer else gpus_ready(settings)
    announce_plan(settings, gpus, plan, balancer)

    cached_models, certificate, staged, engine, firewall = (), None, Staged(), None, None
    if settings.is_balancer:
        load_balancer(settings, balancer)
    else:
        delivery, cached_models = control_node_inputs(settings, dry)
        # TLS: the operator's files, or the host's certificate from the fleet CA (issued once, kept).
        certificate = server_certificate(settings, balancer, dry=dry)
        # Docker where it is missing (staging needs it); changes to an installed engine and
        # the firewall are part of the host's release, applied in its wave.
        engine = install_docker(settings)
        # The service port(s) open only to funasr_allow_from; nothing at all when it is empty.
        firewall = service_firewall(settings)
        # Staged on every host first (models, image), then applied wave by wave, each gated.
        staged = funasr_service(settings, delivery, cached_models,
                                registry_password=settings.registry_password)
    # One call for every host (pyinfra identifies operations by where they are called): each
    # wave's hosts change (engine, firewall, servers) and pass their gate before the next
    # wave's; a load balancer drains and takes back each wave's servers.
    funasr_release(settings, cached_models, plan, balancer, certificate, staged, engine, firewall, gpus)


def rollback():
    """Roll the current host back to its previous release, in the deploy's waves and
    gates, each server drained first where a load balancer is in front (once its data
    and access are checked)."""
    use_fast_pyinfra()
    settings = validated_settings()
    size_parallel_to_fleet(state, config)
    check_access(settings)
    funasr_rollback(settings, inventory_plan(inventory, settings, state.limit_hosts),
                    fleet_balancer(inventory, settings))
