"""Read nftables tables."""

import re
import shlex

from pyinfra.api import FactBase

from . import MISSING


class NftTableDigest(FactBase):
    """
    The configuration digest an nftables table carries in its comment
    (``comment "funasr-fleet config-sha256 <hex>"``), or None: no such table, no nft, or
    a table without that comment (e.g. edited by hand); and the sha256 of the ruleset file
    that loads it (None: no file). ``{"live": ..., "file": ...}``, in one command.

    .. code:: python

        host.get_fact(NftTableDigest, table="inet funasr_fleet", path="/etc/funasr-fleet/firewall.nft")
    """

    _COMMENT = re.compile(r'^\s*comment "funasr-fleet config-sha256 ([0-9a-f]{64})"')
    _FILE = re.compile(r"^file-sha256 ([0-9a-f]{64})$")

    def command(self, table, path):
        return (f"nft list table {' '.join(map(shlex.quote, table.split()))} 2>/dev/null; "
                f"[ ! -f {shlex.quote(path)} ] || echo \"file-sha256 $(sha256sum < {shlex.quote(path)} "
                "| cut -d' ' -f1)\"; true")

    def process(self, output):
        live = next((match.group(1) for match in map(self._COMMENT.match, output) if match), MISSING)
        file = next((match.group(1) for match in map(self._FILE.match, output) if match), MISSING)
        return {"live": live, "file": file}

    def default(self):
        return {"live": MISSING, "file": MISSING}
