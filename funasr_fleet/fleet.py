"""
Fleet-wide views from the control node: load an inventory as pyinfra does, probe every
host in parallel, print a table.

    python -m funasr_fleet status inventory/lab.py [--json]
"""

import argparse
import json
import os
import sys
import warnings
from concurrent.futures import ThreadPoolExecutor

from .deploys import tls_policy
from .errors import SettingsError
from .probe import probe
from .settings import check_inventory, load_settings


def load_inventory(path):
    """Build the pyinfra Inventory of an inventory file, with group_data from the current dir.

    + path: inventory file, e.g. ``inventory/prod.py``
    """
    from pyinfra.context import ctx_state
    from pyinfra.api import State

    with warnings.catch_warnings():  # pyinfra_cli patches with gevent when imported
        warnings.simplefilter("ignore")
        from pyinfra_cli.inventory import make_inventory_from_files

    with ctx_state.use(State()):
        return make_inventory_from_files(path, cwd=os.getcwd())


def instance_status(settings, instance):
    """Probe one server instance; return a row dict for the status table."""
    result = probe(instance.probe_url, mode=settings.profile.probe_mode,
                   timeout=settings.funasr_probe_timeout, tls=tls_policy(settings))
    return {
        "host": settings.host,
        "instance": instance.service,
        "profile": settings.funasr_profile,
        "version": settings.funasr_version,
        "url": instance.probe_url,
        "healthy": result.ok,
        "latency_s": round(result.latency_s, 3) if result.ok else None,
        "error": None if result.ok else f"{result.stage}: {result.error}",
    }


def fleet_status(inventory, workers=16):
    """Probe every server instance of ``inventory`` in parallel; rows in inventory order."""
    check_inventory(inventory)
    targets = [(settings, instance) for settings in map(load_settings, inventory)
               for instance in settings.instances]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda target: instance_status(*target), targets))


def format_table(rows):
    """Plain-text table of status rows."""
    header = ("HOST", "INSTANCE", "PROFILE", "VERSION", "URL", "HEALTH", "LATENCY")
    lines = [header]
    for row in rows:
        health = "healthy" if row["healthy"] else f"UNHEALTHY ({row['error']})"
        latency = f"{row['latency_s']:.2f}s" if row["latency_s"] is not None else "-"
        lines.append((row["host"], row["instance"], row["profile"], row["version"], row["url"],
                      health, latency))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header) - 2)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths)) + "  " + "  ".join(line[-2:])
        for line in lines
    )


def main(argv):
    """CLI: ``status INVENTORY [--json]``; exit 0 when every host is healthy, else 1."""
    parser = argparse.ArgumentParser(prog="python -m funasr_fleet status",
                                     description="Probe every host of an inventory.")
    parser.add_argument("inventory")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    args = parser.parse_args(argv)
    try:
        rows = fleet_status(load_inventory(args.inventory))
    except SettingsError as error:
        print(error, file=sys.stderr)
        return 2
    print(json.dumps(rows, indent=2, ensure_ascii=False) if args.json else format_table(rows))
    return 0 if all(row["healthy"] for row in rows) else 1
