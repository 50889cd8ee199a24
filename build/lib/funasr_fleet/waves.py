"""
Rollout waves: which hosts change together, in which order.

A canary first (the first N hosts, or the hosts of a group), then waves sized like
Ansible's ``serial`` (``[1, 5, "25%"]``: counts or percentages of the whole fleet, the
last size repeating until every host has a wave). Hosts keep inventory order, so the plan
is the same on every run and every host computes the same one.

    funasr_canary = 1                # or "canary" (a group), or 0 for none
    funasr_waves = ["50%"]
"""

import math


def batch_size(size, total):
    """Hosts in one batch: an int, or ``"P%"`` of ``total`` (at least 1)."""
    if isinstance(size, str):
        return max(1, math.floor(total * float(size.rstrip("%")) / 100))
    return size


def plan_waves(hosts, canary, waves, groups=None):
    """Split ``hosts`` (names, inventory order) into waves; return a list of name lists.

    + hosts: host names in inventory order
    + canary: 0 (no canary), a count of first hosts, or a group name
    + waves: batch sizes after the canary (ints or ``"P%"``), the last one repeating
    + groups: ``{group: set of host names}``, for a canary given as a group

    **Example:**

    .. code:: python

        plan_waves(["a", "b", "c", "d"], 1, ["50%"])  # [["a"], ["b", "c"], ["d"]]
    """
    remaining = list(hosts)
    plan = []
    if isinstance(canary, str):
        members = (groups or {}).get(canary, set())
        first = [name for name in remaining if name in members]
    else:
        first = remaining[:canary]
    if first:
        plan.append(first)
        remaining = [name for name in remaining if name not in first]
    sizes = list(waves) or [len(hosts)]
    index = 0
    while remaining:
        count = batch_size(sizes[min(index, len(sizes) - 1)], len(hosts))
        plan.append(remaining[:count])
        remaining = remaining[count:]
        index += 1
    return plan


def wave_of(plan, name):
    """Index of the wave ``name`` is in (None: not in the plan, e.g. a load balancer)."""
    return next((index for index, wave in enumerate(plan) if name in wave), None)


def inventory_plan(inventory, settings, limit=None):
    """The wave plan of a pyinfra inventory's servers (load balancers have no wave), from
    one host's `Settings` (the knobs are fleet-wide: `funasr_fleet.settings.check_inventory`
    makes every host agree).

    + limit: the hosts this run targets (pyinfra's ``state.limit_hosts``, from ``--limit``
      and ``--exclude``), None for all. Like Ansible's ``serial`` after ``--limit``, the
      canary and the percentages apply to them: a limited run still starts with a canary.

    .. code:: python

        plan = inventory_plan(inventory, settings, state.limit_hosts)
    """
    names = [host.name for host in inventory if settings.funasr_lb_group not in host.groups
             and (limit is None or host in limit)]
    groups = {group: {host.name for host in inventory.get_group(group)}
              for group in inventory.groups}
    return plan_waves(names, settings.funasr_canary, settings.funasr_waves, groups)
