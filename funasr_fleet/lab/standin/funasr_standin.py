#!/usr/bin/env python3
"""
Launcher of the FunASR stand-in (the package in this directory; see its __init__.py).
The image installs this file at the real binaries' paths as symbolic links, so argv[0]
is the real binary's name (which picks the server) and the package is found next to the
link's target. Run locally as ``python3 funasr_fleet/lab/standin/funasr_standin.py ...``.
"""

import os
import sys

if __name__ == "__main__":
    PACKAGE = os.path.dirname(os.path.realpath(__file__))
    # Import the package from its parent directory, not its modules from their own one.
    sys.path[:] = [os.path.dirname(PACKAGE)] + [path for path in sys.path
                                                 if os.path.realpath(path or os.curdir) != PACKAGE]
    from standin.process import main

    main(sys.argv)
