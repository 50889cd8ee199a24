"""
The lab's state: where it lives and the JSON file inventory/lab.py reads.

State dir: $FUNASR_LAB_DIR, or .lab/ at the repository root. state.json::

    {"version": 1, "ssh_key": ".../id_ed25519", "known_hosts": ".../known_hosts",
     "network": "funasr-lab",
     "hosts": [{"name": "lab-1", "container": "funasr-lab-1", "address": "127.0.0.1",
                "ssh_port": 32771, "service_ports": {"10095": 32772, ...}, "groups": ["cpu"]}],
     "images": {"host": "funasr-fleet-lab/host:trixie", "standin": "funasr-fleet-lab/funasr-standin"},
     "hub": {"url": "http://127.0.0.1:PORT", "log": ".../hub.jsonl", "faults": ".../hub.faults.json"},
     "gpu": {"repo_url": "file:///srv/nvidia-repo-standin", "key_fingerprint": "..."}}

Hosts in group ``gpu`` have a SIMULATED GPU (funasr_fleet/lab/simulated_gpu.py).
"""

import json
import os
from pathlib import Path

from .engine import LabError

REPO_ROOT = Path(__file__).resolve().parents[2]
STATE_VERSION = 1


def lab_dir():
    """The lab's state directory (not created here)."""
    return Path(os.environ.get("FUNASR_LAB_DIR") or REPO_ROOT / ".lab").resolve()


def state_path():
    return lab_dir() / "state.json"


def load_state(path=None):
    """Read state.json; a clear error says how to create the lab when it is missing."""
    path = Path(path) if path else state_path()
    if not path.is_file():
        raise LabError(f"no lab state at {path}: the lab is not up; start it with "
                       "`funasr-fleet lab up` (or `make lab-up`)")
    state = json.loads(path.read_text())
    if state.get("version") != STATE_VERSION:
        raise LabError(f"{path} is lab state version {state.get('version')}, expected "
                         f"{STATE_VERSION}: run `funasr-fleet lab up --fresh`")
    return state


def save_state(state, path=None):
    """Write state.json atomically."""
    path = Path(path) if path else state_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(state, indent=2) + "\n")
    temporary.replace(path)
