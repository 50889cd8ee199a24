"""
The ``funasr-fleet`` command (click, like pyinfra's own CLI): funasr-fleet's tools besides
the deploy itself, which is plain pyinfra. One module per subcommand; the libraries they
use hold no command line. ``python -m funasr_fleet`` runs the same command.

    funasr-fleet probe ws[s]://HOST:PORT [--json]
    funasr-fleet status INVENTORY [--json]
    funasr-fleet models fetch [INVENTORY]
    funasr-fleet xiaozhi-config INVENTORY [--host NAME]
    funasr-fleet lab up|status|down
"""

import sys

import click

from ..errors import DeployError, SettingsError
from ..lab.engine import LabError
from .lab import lab
from .models import models
from .probe import probe
from .status import status
from .xiaozhi import xiaozhi_config


# Failures an operator can fix (bad data, a missing inventory or lab, a hub that does not
# answer): one line naming the thing and the fix, exit 2. Anything else is a bug: traceback.
EXPECTED = (SettingsError, DeployError, LabError)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli():
    """funasr-fleet: probe FunASR servers, show a fleet's status, fetch its models, point
    xiaozhi-esp32-server at it, run the local lab. Converge with pyinfra:
    pyinfra -y INVENTORY deploy.py"""


for command in (probe, status, models, xiaozhi_config, lab):
    cli.add_command(command)


def main(argv=None):
    """Run the command with ``argv`` (default: the process's); returns the exit status
    (2 for a usage error, as click does)."""
    try:
        status = cli.main(args=sys.argv[1:] if argv is None else argv, prog_name="funasr-fleet",
                          standalone_mode=False)
    except click.ClickException as error:  # a usage error (2) and the like
        error.show()
        return error.exit_code
    except click.exceptions.Abort:
        return 1
    except EXPECTED as error:  # written for the operator: the message, no traceback
        click.echo(f"funasr-fleet: {error}", err=True)
        return 2
    return status if isinstance(status, int) else 0


def run():
    """The ``funasr-fleet`` console script."""
    sys.exit(main())
