"""
Fleet-wide views from the control node: read every host's release record, probe every
server instance in parallel, print a table (``python -m funasr_fleet status``,
funasr_fleet/cli/status.py).
"""

import logging
from concurrent.futures import ThreadPoolExecutor

from .gate import tls_policy
from .probe import probe
from .settings import check_inventory, load_settings


def release_records(inventory):
    """``{host name: release record}`` read over SSH (pyinfra's connectors); a host with no
    record gets ``{}``, one that cannot be reached ``{"unreachable": reason}`` (no
    traceback: paramiko's own logging is kept quiet)."""
    from pyinfra.api import Config, State
    from pyinfra.api.exceptions import ConnectError
    from pyinfra.context import ctx_host, ctx_state

    from .facts.release import ReleaseRecord

    state = State(check_for_changes=False)
    state.init(inventory, Config())
    records = {}
    logging.getLogger("paramiko").setLevel(logging.CRITICAL)
    with ctx_state.use(state):
        for host in inventory:
            directory = load_settings(host).funasr_dir
            with ctx_host.use(host):
                try:
                    host.connect(show_errors=False, raise_exceptions=True)
                    records[host.name] = host.get_fact(ReleaseRecord, path=f"{directory}/release.json")
                except ConnectError as error:
                    records[host.name] = {"unreachable": str(error)}
                except Exception as error:  # a fact that failed: the probe column says the rest
                    records[host.name] = {"unreachable": f"{type(error).__name__}: {error}"}
    return records


def instance_status(settings, instance, record):
    """Probe one server instance; return a row dict for the status table.

    + settings: the host's `Settings` (what it should run)
    + instance: one of ``settings.instances``
    + record: the host's release record (what it runs), or {}
    """
    unreachable = record.get("unreachable")
    result = probe(instance.probe_url, mode=settings.profile.probe_mode,
                   timeout=settings.funasr_probe_timeout, tls=tls_policy(settings))
    current = record.get("current") or {}
    return {
        "host": settings.host,
        "groups": sorted(group for group in settings.groups),
        "instance": instance.service,
        "profile": settings.funasr_profile,
        "version": "balancer" if settings.is_balancer else current.get("version"),
        "wanted_version": settings.funasr_version,
        "previous_version": (record.get("previous") or {}).get("version"),
        "models": [] if settings.is_balancer else
                  [f"{spec.id}@{spec.revision}" for _, spec in sorted(settings.funasr_models.items())],
        "url": instance.probe_url,
        "healthy": result.ok and not unreachable,
        "latency_s": round(result.latency_s, 3) if result.ok else None,
        "error": (f"unreachable: {unreachable}" if unreachable
                  else None if result.ok else f"{result.stage}: {result.error}"),
    }


def fleet_status(inventory, workers=16):
    """Probe every server instance of ``inventory`` in parallel (release records read over
    SSH first); rows in inventory order."""
    check_inventory(inventory)
    records = release_records(inventory)
    targets = [(settings, instance, records.get(settings.host, {}))
               for settings in map(load_settings, inventory) for instance in settings.instances]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda target: instance_status(*target), targets))


def format_table(rows):
    """Plain-text table of status rows."""
    header = ("HOST", "GROUP", "INSTANCE", "PROFILE", "VERSION", "MODELS", "URL", "HEALTH", "LATENCY")
    lines = [header]
    for row in rows:
        health = "healthy" if row["healthy"] else f"UNHEALTHY ({row['error']})"
        latency = f"{row['latency_s']:.2f}s" if row["latency_s"] is not None else "-"
        version = row["version"] or "?"
        if row["version"] not in (row["wanted_version"], "balancer"):
            version += f" (data: {row['wanted_version']})"
        lines.append((row["host"], ",".join(row["groups"]), row["instance"], row["profile"], version,
                      str(len(row["models"]) or "-"), row["url"], health, latency))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header) - 2)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths)) + "  " + "  ".join(line[-2:])
        for line in lines
    )
