"""
Errors funasr-fleet raises before or while it changes hosts.

They subclass pyinfra's ``PyinfraError`` so the pyinfra CLI prints their message
as it is (no traceback): the message is the whole report, written for an operator.
"""

from pyinfra.api.exceptions import PyinfraError


class SettingsError(PyinfraError):
    """Host data that cannot be deployed; raised before any host is changed."""


class DeployError(PyinfraError):
    """A step on the control node (image tarball, model cache, probe) failed."""
