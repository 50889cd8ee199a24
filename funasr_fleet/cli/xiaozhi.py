"""
``funasr-fleet xiaozhi-config INVENTORY [--host NAME] [--force]``: print the ASR
section of xiaozhi-esp32-server's ``data/.config.yaml`` for a fleet host
(`funasr_fleet.xiaozhi`). With a load balancer group in the inventory, the default
target is its first host; a target whose server never sends a final reply is refused
unless ``--force``.
"""

import click
import yaml

from ..pyinfra_internals import load_inventory
from ..settings import check_inventory, load_settings
from ..xiaozhi import asr_config


def _refuse(message):
    click.echo(message, err=True)
    raise click.exceptions.Exit(2)


@click.command("xiaozhi-config")
@click.argument("inventory")
@click.option("--host", "name", help="inventory host to point at (default: the load balancer, else the first host)")
@click.option("--force", is_flag=True,
              help="print it even for an offline-profile target (5 s stall per utterance)")
def xiaozhi_config(inventory, name, force):
    """Print xiaozhi-esp32-server's ASR section (YAML to merge into data/.config.yaml) for a
    host of INVENTORY."""
    hosts = load_inventory(inventory)
    check_inventory(hosts)
    names = [host.name for host in hosts]
    balancers = [host.name for host in hosts if load_settings(host).is_balancer]
    name = name or (balancers or names)[0]
    if name not in names:
        _refuse(f"--host {name}: not in {inventory} (hosts: {', '.join(names)})")
    settings = load_settings(hosts.get_host(name))
    role = "load balancer" if settings.is_balancer else "host"
    if not settings.profile.final_reply and not force:
        _refuse(f"{role} {name} runs the {settings.funasr_profile} profile: its server never sends "
                "is_final: true, and xiaozhi-esp32-server's fun_server provider waits for it (5 s "
                "per utterance; xiaozhi-esp32-server issue #1694). Point xiaozhi at a 2pass host or "
                "load balancer (--host NAME), or add --force to print it anyway.")
    click.echo(f"# xiaozhi-esp32-server data/.config.yaml: ASR via funasr-fleet {role} {name} "
               f"({settings.funasr_profile} profile)")
    click.echo(yaml.safe_dump(asr_config(settings), sort_keys=False, allow_unicode=True), nl=False)
