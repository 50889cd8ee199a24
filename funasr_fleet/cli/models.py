"""
``funasr-fleet models fetch [INVENTORY]``: fetch every model revision a fleet uses into the
control-node cache, verified (`funasr_fleet.hub`).
"""

import click

from ..hub import fetch_model, fleet_model_sets
from ..pyinfra_internals import load_inventory


@click.group()
def models():
    """Manage the control-node model cache."""


@models.command()
@click.argument("inventory", default="inventory/lab.py")
@click.option("--workers", type=int, default=4, show_default=True, help="parallel downloads per model")
def fetch(inventory, workers):
    """Fetch every model INVENTORY's hosts use (default: the local lab's) into the cache."""
    for endpoint, cache_dir, spec in fleet_model_sets(load_inventory(inventory)):
        cached = fetch_model(endpoint, spec, cache_dir, workers=workers)
        size = sum(entry["size"] for entry in cached.files)
        click.echo(f"{spec.id}@{spec.revision}: {len(cached.files)} files, "
                   f"{size / 1e6:.1f} MB, verified, in {cached.directory}")
