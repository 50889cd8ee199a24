"""Manage the load balancer's nginx stream configuration (drains included)."""

import time
from io import BytesIO

from pyinfra import host
from pyinfra.api import FunctionCommand, StringCommand, operation
from pyinfra.api.command import FileUploadCommand, QuoteString

from ..digest import sha256_bytes
from ..facts.batch import read, reads
from ..facts.files import PathStates
from ..render import render_balancer
from .files import show_diff

# Debian's and Ubuntu's nginx.conf include modules-enabled/*.conf at the top level, after
# which 50-mod-stream.conf has loaded the stream module; our stream block goes there too.
CONFIG_PATH = "/etc/nginx/modules-enabled/90-funasr-fleet-stream.conf"


@reads(lambda *_, **__: [(PathStates, {"paths": [CONFIG_PATH]})])
@operation()
def balancer_configured(balancer, down=(), drain=False):
    """
    Write the load balancer's nginx stream configuration and reload nginx when it changed.

    + balancer: a `funasr_fleet.balancer.Balancer` (not ``active``: nothing to do here)
    + down: host names whose servers take no new sessions, or a callable returning them
      (evaluated when the operation runs, e.g. from other hosts' results)
    + drain: after the reload, wait until nginx's old workers, which carry the sessions
      begun before it, have exited (at most ``balancer.drain_timeout`` seconds): then no
      session uses a server that was just marked down

    The configuration is checked with ``nginx -t`` in place; a failed check restores the
    previous file and fails the host before nginx reloads.

    **Example:**

    .. code:: python

        balancer_configured(name="Drain wave 1", balancer=balancer, down={"asr-2"}, drain=True)
    """
    if not balancer.active:
        return
    down = set(down() if callable(down) else down)
    text = render_balancer(host.name, balancer, down).encode("utf-8")
    if (read(PathStates, paths=[CONFIG_PATH]).get(CONFIG_PATH) or {}).get(
            "sha256") == sha256_bytes(text):
        return
    new, kept = QuoteString(f"{CONFIG_PATH}.funasr-fleet-new"), QuoteString(f"{CONFIG_PATH}.previous")
    config = QuoteString(CONFIG_PATH)
    show_diff(CONFIG_PATH, text)
    yield FileUploadCommand(BytesIO(text), f"{CONFIG_PATH}.funasr-fleet-new")
    yield StringCommand(
        "{", "[", "!", "-f", config, "]", "||", "cp", "-p", config, kept, ";", "}", "&&",
        "chmod", "644", new, "&&", "mv", "-f", new, config, "&&",
        "{", "nginx", "-t", "-q", "||", "{", "[", "-f", kept, "]", "&&", "mv", "-f", kept, config,
        "||", "rm", "-f", config, ";", "echo", "'nginx -t refused the new configuration; the "
        "previous one is back'", ">&2", ";", "exit", "1", ";", "}", ";", "}")
    yield FunctionCommand(_nginx_reloaded, (balancer.drain_timeout if drain else 0, sorted(down)), {})


def _nginx_reloaded(state, host, drain_timeout, down):
    """FunctionCommand body: reload nginx (start it if stopped); with ``drain_timeout``,
    wait until the workers that ran before the reload have exited."""
    _, output = host.run_shell_command(StringCommand("pgrep", "-f", "'^nginx: worker process'", "||", "true"))
    old = [pid for pid in output.stdout_lines if pid.strip().isdigit()]
    done, output = host.run_shell_command(StringCommand("systemctl", "reload-or-restart", "nginx"))
    if not done:
        host.log_styled(f"nginx reload failed: {' '.join(output.stderr_lines)[-300:]}", fg="red")
        return False
    if not drain_timeout or not old:
        return True
    deadline = time.monotonic() + drain_timeout + 5
    while time.monotonic() < deadline:
        _, output = host.run_shell_command(StringCommand("ps", "-o", "args=", "-p", ",".join(old), "||", "true"))
        if not [line for line in output.stdout_lines if "nginx: worker" in line]:  # (a reused PID is not one)
            host.log(f"drained: {', '.join(down) or 'no server'} (sessions begun before finished)")
            return True
        time.sleep(0.5)
    host.log_styled(f"drain of {', '.join(down)} timed out after {drain_timeout:g}s: sessions still "
                    "open on them are cut by the restart", fg="yellow")
    return True
