"""
``python -m funasr_fleet status INVENTORY [--json]``: probe every host of an inventory and
print a table, with the release each runs (`funasr_fleet.fleet`).
"""

import argparse
import json
import sys

from ..errors import SettingsError
from ..fleet import fleet_status, format_table
from ..pyinfra_internals import load_inventory


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
