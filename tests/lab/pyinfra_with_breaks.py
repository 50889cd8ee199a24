"""pyinfra's CLI with the behaviours named in FUNASR_LAB_BREAK switched off (breaks.py):
``python tests/lab/pyinfra_with_breaks.py -y inventory/lab.py deploy.py ...``."""

import os
import sys

# pyinfra's CLI first: importing it sets up gevent before anything opens a socket.
from pyinfra_cli.main import main

import breaks

if __name__ == "__main__":
    breaks.apply(os.environ.get("FUNASR_LAB_BREAK", ""))
    sys.exit(main())
