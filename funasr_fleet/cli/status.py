"""
``funasr-fleet status INVENTORY [--json]``: probe every host of an inventory and print a
table, with the release each runs (`funasr_fleet.fleet`).
"""

import json

import click

from ..fleet import fleet_status, format_table
from ..metrics import prometheus_text
from ..pyinfra_internals import load_inventory


FORMATS = {
    "table": format_table,
    "json": lambda rows: json.dumps(rows, indent=2, ensure_ascii=False),
    "prometheus": prometheus_text,
}


@click.command()
@click.argument("inventory")
@click.option("--format", "output", type=click.Choice(list(FORMATS)), default="table", show_default=True,
              help="a table, JSON, or Prometheus's text format (funasr_fleet_up, ..._probe_latency_seconds, "
                   "..._release_info)")
@click.option("--json", "as_json", is_flag=True, help="the same as --format json")
def status(inventory, output, as_json):
    """Probe every host of INVENTORY (a pyinfra inventory file); exit 0 when every host is
    healthy, 1 otherwise (an unreachable host is a row "unreachable: <reason>"), 2 when the
    inventory or its data is invalid."""
    rows = fleet_status(load_inventory(inventory))
    click.echo(FORMATS["json" if as_json else output](rows), nl=output != "prometheus" or as_json)
    raise click.exceptions.Exit(0 if all(row["healthy"] for row in rows) else 1)
