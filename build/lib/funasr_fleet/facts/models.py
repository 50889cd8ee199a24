"""Read the model revisions a host holds, and what copying models to it can use."""

import json
import re
import shlex

from pyinfra.api import FactBase

from ..models import MANIFEST


class ModelManifests(FactBase):
    """
    The funasr-fleet model manifests the host holds (every model directory
    ``<directory>/<owner>/<name@revision>``), its rsync version, whether its CPU has AES
    instructions (for the ssh cipher of the copy), and the free space there.

    Returns ``{"rsync": version tuple (e.g. ``(3, 4, 1)``) or None, "cpu_aes": bool,
    "free_kib": int or None, "manifests": {model directory relative to ``directory``:
    manifest dict}}``; unreadable manifests are absent.

    .. code:: python

        host.get_fact(ModelManifests, directory="/opt/funasr/models")
        # {"manifests": {"iic/speech_fsmn_vad_zh-cn-16k-common-onnx@v2.0.4": {...}}, ...}
    """

    CPUINFO = "/proc/cpuinfo"

    def command(self, directory):
        quoted = shlex.quote(directory)
        return ("echo rsync=$(rsync --version 2>/dev/null | head -n 1); "
                f"{cpu_aes_test(self.CPUINFO)} && echo cpu_aes=1; "
                f"d={quoted}; while [ ! -d \"$d\" ]; do d=$(dirname \"$d\"); done; "
                "df -Pk \"$d\" | awk 'NR == 2 {print \"free=\" $4}'; "
                f'if cd {quoted} 2>/dev/null; then for p in */*/{MANIFEST}; do if [ -f "$p" ]; then '
                'printf "%s\\t" "${p%/*}"; tr -d "\\n" < "$p"; echo; fi; done; fi')

    def process(self, output):
        facts = self.default()
        for line in output:
            if line.startswith("rsync="):
                facts["rsync"] = rsync_version(line[6:])
                continue
            if line == "cpu_aes=1":
                facts["cpu_aes"] = True
                continue
            if line.startswith("free="):
                facts["free_kib"] = int(line[5:]) if line[5:].strip().isdigit() else None
                continue
            path, _, text = line.partition("\t")
            try:
                facts["manifests"][path] = json.loads(text)
            except ValueError:
                pass  # a damaged manifest counts as none: the model is sent again
        return facts

    def default(self):
        return {"rsync": None, "cpu_aes": False, "free_kib": None, "manifests": {}}


def cpu_aes_test(cpuinfo="/proc/cpuinfo"):
    """Shell test, true when ``cpuinfo`` lists AES instructions (x86 ``flags: ... aes``,
    Arm ``Features: ... aes``); false when it cannot be read (e.g. macOS). Run on hosts by
    `ModelManifests` and on the control node by `funasr_fleet.transfer.cpu_has_aes`."""
    return ("grep -qsE '^(flags|Features)[[:space:]]*:(.*[[:space:]])?aes([[:space:]]|$)' "
            f"{shlex.quote(cpuinfo)}")


def rsync_version(banner):
    """``(3, 4, 1)`` from rsync's ``--version`` first line, None when there is none."""
    match = re.search(r"rsync\s+version\s+v?(\d+)\.(\d+)\.(\d+)", banner)
    return tuple(int(part) for part in match.groups()) if match else None
