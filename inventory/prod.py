"""
Example production inventory: copy it, then list your hosts.

    pyinfra -y inventory/prod.py deploy.py

Groups: ``cpu`` hosts run the CPU profile from group_data/cpu.py, ``gpu`` hosts the GPU
profile from group_data/gpu.py. Every host is also in group ``prod`` (this file's name).
Host data here overrides group data; every knob is in group_data/all.py.
"""

# SSH settings shared by every host (pyinfra's ssh_* data). Keep keys out of the repo:
# point ssh_key at a file on the control node, or use your ssh-agent.
_ssh = {
    "ssh_user": "deploy",
    "_sudo": True,
    "ssh_known_hosts_file": "~/.ssh/known_hosts",
    "ssh_strict_host_key_checking": "yes",
}

cpu = [
    ("asr-cpu-1.example.internal", {**_ssh}),
    ("asr-cpu-2.example.internal", {**_ssh, "funasr_hotwords": {"小智": 30}}),
]

# GPU hosts need a working NVIDIA driver already (funasr-fleet checks, never installs it).
gpu = [
    ("asr-gpu-1.example.internal", {**_ssh}),
    ("asr-gpu-2.example.internal", {**_ssh, "funasr_gpus": ["0"]}),  # reserve GPU 0 only
]

# Optional: a TCP load balancer (nginx stream) in front of the CPU (2pass) servers, for
# zero-downtime rollouts; its profile comes from group_data/lb.py. Clients connect to it.
# lb = [("asr-lb-1.example.internal", {**_ssh})]
