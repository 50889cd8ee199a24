"""
Roll a FunASR fleet back, wave by wave, to each host's previous release.

    pyinfra -y inventory/prod.py rollback.py

Each host's release record (/opt/funasr/release.json) names its current and previous
release; the previous release's files are in /opt/funasr/previous/ and its image is still
on the host. Waves and gates are the deploy's (funasr_canary, funasr_waves): a host whose
previous release fails its probe is put back on its current one and no later wave starts.
Rolling back twice returns to where you started; to stay on the older version, set
funasr_version to it in your data before the next deploy.
"""

import sys

from pyinfra import host, inventory, state

from funasr_fleet.balancer import check_limit, fleet_balancer
from funasr_fleet.deploys.rollout import funasr_rollback
from funasr_fleet.settings import check_inventory, load_settings
from funasr_fleet.waves import inventory_plan

check_inventory(inventory)
check_limit(inventory, state.limit_hosts, sys.argv)  # the balancer must be in a limited run
settings = load_settings(host)
# With a load balancer group, each server is drained before its restart and put back after its probe.
# Waves over the hosts this run targets (--limit/--exclude), canary first, as the deploy's.
funasr_rollback(settings, inventory_plan(inventory, settings, state.limit_hosts),
                fleet_balancer(inventory, settings))
