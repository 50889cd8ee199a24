"""
What funasr-fleet reads from pyinfra that pyinfra does not publish. Keep it here, small,
and re-check it when pyinfra is upgraded (tests/unit/test_dry_run.py runs the real CLI).
"""

import sys


def dry_run():
    """True while the pyinfra CLI prepares a ``--dry`` run; False anywhere else (tests, API).

    pyinfra (checked against 3.10) has no public flag for ``--dry``: its CLI prepares
    every host (running deploy.py) and only then stops before executing. The deploy file
    runs inside that CLI process, so its command line says whether the run is dry. (The
    CLI's click context, which holds the parsed flag, is not reachable from deploy code:
    hosts are prepared in gevent greenlets, where click's context stack is empty.)
    """
    if "pyinfra_cli.cli" not in sys.modules:  # not the pyinfra CLI (tests, the API)
        return False
    args = sys.argv[1:]
    return "--dry" in (args[:args.index("--")] if "--" in args else args)
