"""``python -m funasr_fleet COMMAND ...``: the commands of `funasr_fleet.cli`."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
