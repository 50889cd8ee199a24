"""
Converge a FunASR fleet: Docker Engine, the firewall, the FunASR service, then a health gate.

    pyinfra -y inventory/prod.py deploy.py                              # converge
    pyinfra -y inventory/prod.py deploy.py --data funasr_version=0.1.13 # staged upgrade

Every host's data is validated first (funasr_fleet/settings/): one bad value on
one host stops the run before any host is changed. Then models and images are staged on
every host, and the hosts are changed in waves (canary first): Docker engine changes
(daemon.json, pinned versions, the NVIDIA toolkit), the firewall, then the servers, each
wave gated by a real probe; a failed change or gate fails its host (a failed gate rolls it
back) and no further wave starts. Knobs: group_data/all.py.
With --dry, the control node changes nothing either: each host logs what a real run would
fetch, save and issue there ("dry run: would ...").
"""

from funasr_fleet.deploys.fleet import converge

converge()
