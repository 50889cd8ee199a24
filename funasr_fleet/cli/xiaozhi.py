"""
``python -m funasr_fleet xiaozhi-config INVENTORY [--host NAME] [--force]``: print the ASR
section of xiaozhi-esp32-server's ``data/.config.yaml`` for a fleet host
(`funasr_fleet.xiaozhi`). With a load balancer group in the inventory, the default
target is its first host; a target whose server never sends a final reply is refused
unless ``--force``.
"""

import argparse
import sys

import yaml

from ..errors import SettingsError
from ..pyinfra_internals import load_inventory
from ..settings import check_inventory, load_settings
from ..xiaozhi import asr_config


def main(argv):
    """CLI: ``xiaozhi-config INVENTORY [--host NAME]``; prints YAML to merge into .config.yaml."""
    parser = argparse.ArgumentParser(prog="python -m funasr_fleet xiaozhi-config",
                                     description="Print xiaozhi-esp32-server's ASR section.")
    parser.add_argument("inventory")
    parser.add_argument("--host", help="inventory host to point at (default: the load balancer, "
                        "else the first host)")
    parser.add_argument("--force", action="store_true",
                        help="print it even for an offline-profile target (5 s stall per utterance)")
    args = parser.parse_args(argv)
    inventory = load_inventory(args.inventory)
    try:
        check_inventory(inventory)
    except SettingsError as error:
        print(error, file=sys.stderr)
        return 2
    names = [host.name for host in inventory]
    balancers = [host.name for host in inventory if load_settings(host).is_balancer]
    name = args.host or (balancers or names)[0]
    if name not in names:
        print(f"--host {name}: not in {args.inventory} (hosts: {', '.join(names)})", file=sys.stderr)
        return 2
    settings = load_settings(inventory.get_host(name))
    role = "load balancer" if settings.is_balancer else "host"
    if not settings.profile.final_reply and not args.force:
        print(f"{role} {name} runs the {settings.funasr_profile} profile: its server never sends "
              "is_final: true, and xiaozhi-esp32-server's fun_server provider waits for it (5 s "
              "per utterance; xiaozhi-esp32-server issue #1694). Point xiaozhi at a 2pass host or "
              "load balancer (--host NAME), or add --force to print it anyway.", file=sys.stderr)
        return 2
    print(f"# xiaozhi-esp32-server data/.config.yaml: ASR via funasr-fleet {role} {name} "
          f"({settings.funasr_profile} profile)")
    print(yaml.safe_dump(asr_config(settings), sort_keys=False, allow_unicode=True), end="")
    return 0
