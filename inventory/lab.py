"""
The local lab's hosts (python -m funasr_fleet.lab up), read from the lab's state file.

Every host is in group ``lab`` (this file's name, so group_data/lab.py applies) and in
the group the lab gave it (``cpu``, ``gpu`` for a SIMULATED GPU host, ``lb`` for a load
balancer). SSH and the
service are reached on 127.0.0.1.
"""

import json

from funasr_fleet.lab.state import lab_dir, load_state

_state = load_state()
# Optional per-host data for experiments and lab tests: {"lab-2": {"funasr_hotwords": {...}}}
_overrides_file = lab_dir() / "host_data.json"
_overrides = json.loads(_overrides_file.read_text()) if _overrides_file.is_file() else {}


def _host(entry):
    return (entry["name"], {
        "ssh_hostname": entry["address"],
        "ssh_port": entry["ssh_port"],
        "ssh_user": "root",
        "ssh_key": _state["ssh_key"],
        "ssh_known_hosts_file": _state["known_hosts"],
        "ssh_strict_host_key_checking": "accept-new",
        "funasr_probe_ports": {int(port): mapped for port, mapped in entry["service_ports"].items()},
        "funasr_image_cache_dir": str(lab_dir() / "images"),
        "funasr_models_cache_dir": str(lab_dir() / "models"),
        "funasr_models_endpoint": _state["hub"]["url"],
        # A load balancer host reaches the servers over the lab's Docker network.
        "funasr_lb_backend_address": entry["container"],
        # Simulated GPU hosts: NVIDIA's repo stands in inside the host (file://), signed
        # by the lab's key (funasr_fleet/lab/simulated_gpu.py).
        **({"nvidia_repo_url": _state["gpu"]["repo_url"],
            "nvidia_repo_key_fingerprint": _state["gpu"]["key_fingerprint"]}
           if "gpu" in entry["groups"] else {}),
        **_overrides.get(entry["name"], {}),
    })


def _group(name):
    return [_host(entry) for entry in _state["hosts"] if name in entry["groups"]]


cpu = _group("cpu")
gpu = _group("gpu")
lb = _group("lb")  # present when the lab has load balancer hosts (lab up --lb-hosts 1)
