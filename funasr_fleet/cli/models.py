"""
``python -m funasr_fleet models fetch [INVENTORY]``: fetch every model revision a fleet
uses into the control-node cache, verified (`funasr_fleet.hub`).
"""

import argparse
import sys

from ..errors import DeployError, SettingsError
from ..hub import fetch_model, fleet_model_sets
from ..pyinfra_internals import load_inventory


def main(argv):
    """CLI: ``models fetch [INVENTORY]``: warm the control-node cache for a whole fleet."""
    parser = argparse.ArgumentParser(prog="python -m funasr_fleet models",
                                     description="Manage the control-node model cache.")
    parser.add_argument("action", choices=["fetch"], help="fetch every model the fleet uses")
    parser.add_argument("inventory", nargs="?", default="inventory/lab.py",
                        help="pyinfra inventory (default: the local lab)")
    parser.add_argument("--workers", type=int, default=4, help="parallel downloads per model")
    args = parser.parse_args(argv)
    try:
        for endpoint, cache_dir, spec in fleet_model_sets(load_inventory(args.inventory)):
            cached = fetch_model(endpoint, spec, cache_dir, workers=args.workers)
            size = sum(entry["size"] for entry in cached.files)
            print(f"{spec.id}@{spec.revision}: {len(cached.files)} files, "
                  f"{size / 1e6:.1f} MB, verified, in {cached.directory}")
    except (SettingsError, DeployError) as error:
        print(error, file=sys.stderr)
        return 2
    return 0
