"""
The local lab (like Molecule's platforms): real SSH hosts for the real deploy.

    python -m funasr_fleet.lab up [--hosts N] [--gpu-hosts M] [--lb-hosts L] [--fresh]
    python -m funasr_fleet.lab status [--json]
    python -m funasr_fleet.lab down [--purge]

The same as ``funasr-fleet lab ...`` (`funasr_fleet.cli.lab`).
"""

from ..cli.lab import lab

if __name__ == "__main__":
    lab.main(prog_name="python -m funasr_fleet.lab")
