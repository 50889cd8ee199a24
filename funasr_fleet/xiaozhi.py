"""
The ASR section of xiaozhi-esp32-server's ``data/.config.yaml`` for a fleet host.

    python -m funasr_fleet xiaozhi-config inventory/prod.py [--host asr-cpu-1.example.internal]

With a load balancer group in the inventory, the default target is its first host.

xiaozhi-esp32-server's ``fun_server`` ASR provider speaks FunASR's WebSocket protocol; it
needs the host, port and whether to use TLS. The address is the one the control node
probes (``funasr_probe_address``/``funasr_probe_ports``, else the SSH host and the port).

Only a 2pass server (or a balancer in front of 2pass servers) suits it: the provider
(core/providers/asr/fun_server.py) sends the whole utterance with mode "offline" and
reads replies until one has ``is_final`` true, 5 s per receive. The 2pass server ends
with ``is_final: true``; the offline servers' only reply has ``is_final: false``
(websocket-server.cpp:102), so every utterance would stall 5 s (xiaozhi-esp32-server
issue #1694). Such a target is refused unless ``--force``.
"""

import argparse
import sys
from urllib.parse import urlsplit

import yaml

from .errors import SettingsError

PROVIDER = "FunASRServer"


def asr_config(settings, instance=None):
    """The ``selected_module``/``ASR`` dict pointing xiaozhi at one server instance.

    + settings: the host's `Settings`
    + instance: one of ``settings.instances`` (default: the first)
    """
    url = urlsplit((instance or settings.instances[0]).probe_url)
    return {
        "selected_module": {"ASR": PROVIDER},
        "ASR": {PROVIDER: {"type": "fun_server", "host": url.hostname, "port": url.port,
                           "is_ssl": url.scheme == "wss", "api_key": "none", "output_dir": "tmp/"}},
    }


def main(argv):
    """CLI: ``xiaozhi-config INVENTORY [--host NAME]``; prints YAML to merge into .config.yaml."""
    from .pyinfra_internals import load_inventory
    from .settings import check_inventory, load_settings

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
