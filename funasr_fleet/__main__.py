"""``python -m funasr_fleet COMMAND ...``: the ``funasr-fleet`` command (`funasr_fleet.cli`)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
