"""
funasr-fleet's commands besides the deploy itself (which is plain pyinfra), one module
each; the libraries they use hold no command line.

    python -m funasr_fleet probe ws[s]://HOST:PORT [--json]
    python -m funasr_fleet status INVENTORY [--json]
    python -m funasr_fleet models fetch [INVENTORY]
    python -m funasr_fleet xiaozhi-config INVENTORY [--host NAME]
"""

import sys

COMMANDS = {
    "probe": ("funasr_fleet.cli.probe", "probe one server with real speech"),
    "status": ("funasr_fleet.cli.status", "probe every host of an inventory, print a table"),
    "models": ("funasr_fleet.cli.models", "fetch every model a fleet uses into the control-node cache"),
    "xiaozhi-config": ("funasr_fleet.cli.xiaozhi", "print xiaozhi-esp32-server's ASR section for a host"),
}


def usage():
    lines = [f"  {name:15} {summary}" for name, (_, summary) in COMMANDS.items()]
    return "usage: python -m funasr_fleet COMMAND ...\n\ncommands:\n" + "\n".join(lines)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in COMMANDS:
        print(usage(), file=sys.stderr)
        return 2
    module = __import__(COMMANDS[argv[0]][0], fromlist=["main"])
    return module.main(argv[1:])
