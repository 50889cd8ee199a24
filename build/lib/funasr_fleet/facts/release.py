"""Read a host's release record."""

import json
import shlex

from pyinfra.api import FactBase


class ReleaseRecord(FactBase):
    """
    The host's release record (``<funasr_dir>/release.json``), or {} when it has none.

    ``{"current": {"version", "image", "image_id", "config_sha256", "started_at",
    "healthy_at"}, "previous": {...} or None}``

    .. code:: python

        host.get_fact(ReleaseRecord, path="/opt/funasr/release.json")
    """

    def command(self, path):
        return f"cat {shlex.quote(path)} 2>/dev/null || true"

    def process(self, output):
        try:
            record = json.loads("\n".join(output))
        except ValueError:
            return {}
        return record if isinstance(record, dict) else {}

    def default(self):
        return {}
