"""
``funasr-fleet status INVENTORY [--json]``: probe every host of an inventory and print a
table, with the release each runs (`funasr_fleet.fleet`).
"""

import json

import click

from ..fleet import fleet_status, format_table
from ..pyinfra_internals import load_inventory


@click.command()
@click.argument("inventory")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def status(inventory, as_json):
    """Probe every host of INVENTORY (a pyinfra inventory file); exit 0 when every host is
    healthy, 1 otherwise (an unreachable host is a row "unreachable: <reason>"), 2 when the
    inventory or its data is invalid."""
    rows = fleet_status(load_inventory(inventory))
    click.echo(json.dumps(rows, indent=2, ensure_ascii=False) if as_json else format_table(rows))
    raise click.exceptions.Exit(0 if all(row["healthy"] for row in rows) else 1)
