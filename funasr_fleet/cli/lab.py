"""
``funasr-fleet lab up|status|down``: the local lab (`funasr_fleet.lab`), a development tool:
systemd containers on this machine's Docker, reached by SSH on 127.0.0.1.
"""

import click

from ..lab import control as lab_commands
from ..lab.engine import LabError


def _run(action, *args):
    try:
        action(*args)
    except LabError as error:
        click.echo(f"lab: {error}", err=True)
        raise click.exceptions.Exit(1) from None


@click.group()
def lab():
    """The local lab: real SSH hosts (systemd containers) for the real deploy."""


@lab.command()
@click.option("--hosts", type=int, default=3, show_default=True)
@click.option("--gpu-hosts", type=int, default=1, show_default=True,
              help="how many of the hosts (the last ones) get a SIMULATED GPU")
@click.option("--lb-hosts", type=int, default=0, show_default=True,
              help="load balancer hosts (group lb) after the server hosts")
@click.option("--fresh", is_flag=True, help="recreate every host and empty the lab's model cache")
def up(hosts, gpu_hosts, lb_hosts, fresh):
    """Build the images and start the hosts."""
    _run(lab_commands.up, hosts, fresh, gpu_hosts, lb_hosts)


@lab.command()
@click.option("--json", "as_json", is_flag=True)
def status(as_json):
    """List the hosts."""
    _run(lab_commands.status, as_json)


@lab.command()
@click.option("--purge", is_flag=True, help="remove the lab images too")
def down(purge):
    """Remove the hosts."""
    _run(lab_commands.down, purge)
