"""
The fleet's status rows (`funasr_fleet.fleet.fleet_status`) in Prometheus's text format,
with prometheus_client: for a textfile collector or any scrape that runs
``funasr-fleet status INVENTORY --format prometheus``.
"""

from prometheus_client import CollectorRegistry, Gauge, generate_latest

LABELS = ("host", "instance", "profile", "url")


def prometheus_text(rows):
    """Per server instance: ``funasr_fleet_up`` (1 when it answered the probe with a final
    result), ``funasr_fleet_probe_latency_seconds`` (when it did) and
    ``funasr_fleet_release_info`` (1, labelled with the running and the wanted version)."""
    registry = CollectorRegistry()
    up = Gauge("funasr_fleet_up", "1 when the server answered real speech with a final result",
               LABELS, registry=registry)
    latency = Gauge("funasr_fleet_probe_latency_seconds", "seconds from the end of the speech to "
                    "the final result", LABELS, registry=registry)
    release = Gauge("funasr_fleet_release_info", "the release the host runs and the one its data wants",
                    (*LABELS, "version", "wanted_version"), registry=registry)
    for row in rows:
        labels = {"host": row["host"], "instance": row["instance"], "profile": row["profile"], "url": row["url"]}
        up.labels(**labels).set(1 if row["healthy"] else 0)
        if row["latency_s"] is not None:
            latency.labels(**labels).set(row["latency_s"])
        release.labels(**labels, version=row["version"] or "", wanted_version=row["wanted_version"] or "").set(1)
    return generate_latest(registry).decode("utf-8")
