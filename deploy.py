"""
Converge a FunASR fleet: Docker Engine, the firewall, the FunASR service, then a health gate.

    pyinfra -y inventory/prod.py deploy.py                              # converge
    pyinfra -y inventory/prod.py deploy.py --data funasr_version=0.1.13 # staged upgrade

Every host's data is validated first (funasr_fleet/settings/): one bad value on
one host stops the run before any host is changed. Then models and images are staged on
every host, and the hosts are changed in waves (canary first): Docker engine changes
(daemon.json, pinned versions, the NVIDIA toolkit), the firewall, then the servers, each
wave gated by a real probe; a failed change or gate fails its host (a failed gate rolls it
back) and no further wave starts. Knobs: group_data/all.py.
With --dry, the control node changes nothing either: each host logs what a real run would
fetch, save and issue there ("dry run: would ...").
"""

import sys

from pyinfra import host, inventory, state

from funasr_fleet.balancer import check_limit, fleet_balancer
from funasr_fleet.deploys.docker import install_docker
from funasr_fleet.deploys.firewall import service_firewall
from funasr_fleet.deploys.rollout import announce_plan, funasr_release, load_balancer
from funasr_fleet.deploys.service import (Staged, funasr_service, gpus_ready, planned_inputs,
                                          server_certificate)
from funasr_fleet.images import prepare_tarball
from funasr_fleet.hub import fetch_models
from funasr_fleet.pyinfra_internals import dry_run
from funasr_fleet.settings import check_inventory, load_settings
from funasr_fleet.waves import inventory_plan

# Every host's data is validated once, while the run's first reachable host is prepared: a
# bad value on any host (reachable or not, in --limit or not) stops the run before any
# operation executes (operations start only after every host is prepared).
if host.name == next(candidate.name for candidate in inventory if candidate in state.active_hosts):
    check_inventory(inventory)
    # A --limit that leaves out the load balancer in front of targeted servers is refused.
    check_limit(inventory, state.limit_hosts, sys.argv)
settings = load_settings(host)
# pyinfra --dry: the control-node inputs are planned (read-only), not made.
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
    # Control-node inputs, prepared once and checked before any host is touched.
    if dry:
        delivery, cached_models = planned_inputs(settings)
    else:
        delivery = (prepare_tarball(settings.image, settings.funasr_image_cache_dir)
                    if settings.funasr_image_delivery == "tarball" else None)
        cached_models = fetch_models(settings.funasr_models_endpoint,
                                     list(settings.funasr_models.values()), settings.funasr_models_cache_dir)
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
funasr_release(settings, cached_models, plan, balancer, certificate, staged,
               engine, firewall, gpus)
