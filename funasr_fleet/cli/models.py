"""
``funasr-fleet models fetch [INVENTORY]``: fetch every model revision a fleet uses into the
control-node cache, verified (`funasr_fleet.hub`).
"""

import click

from ..hub import FetchTally, fetch_model, fleet_model_sets
from ..pyinfra_internals import load_inventory


@click.group()
def models():
    """Manage the control-node model cache."""


@models.command()
@click.argument("inventory", default="inventory/lab.py")
@click.option("--workers", type=int, default=4, show_default=True, help="parallel downloads per model")
def fetch(inventory, workers):
    """Fetch every model INVENTORY's hosts use (default: the local lab's) into the cache.

    One line per model revision, a progress bar on stderr while one downloads (on a
    terminal), then what came from the hub and what from the cache:
    ``models: fetched 3 files (1.2 GB) from https://www.modelscope.cn, 2.1 GB from cache``."""
    tally = FetchTally()
    for endpoint, cache_dir, spec in fleet_model_sets(load_inventory(inventory)):
        cached = fetch_model(endpoint, spec, cache_dir, workers=workers, tally=tally)
        size = sum(entry["size"] for entry in cached.files)
        click.echo(f"{spec.id}@{spec.revision}: {len(cached.files)} files, "
                   f"{size / 1e6:.1f} MB, verified, in {cached.directory}")
    click.echo(tally.line())
