"""What funasr-fleet reads from pyinfra's internals matches what pyinfra computes."""

from types import SimpleNamespace

import pyinfra
import pytest
from pyinfra.api.util import get_operation_order_from_stack

from funasr_fleet.pyinfra_internals import operation_order


def nested(depth, state):
    """Both functions, called from the same line ``depth`` frames down."""
    if depth:
        return nested(depth - 1,
                      state)  # a call over two lines: pyinfra names where the call starts
    return get_operation_order_from_stack(state), operation_order(state)


@pytest.mark.parametrize("is_cli", [True, False])
@pytest.mark.parametrize("deploy_file", [__file__, None, "/no/such/deploy.py"])
def test_operation_order_is_pyinfras_without_reading_source(monkeypatch, is_cli, deploy_file):
    monkeypatch.setattr(pyinfra, "is_cli", is_cli)
    state = SimpleNamespace(current_deploy_filename=deploy_file, current_op_file_number=7)
    theirs, ours = nested(5, state)
    assert ours == theirs
    if deploy_file != "/no/such/deploy.py":  # not on the stack: pyinfra keeps no frame
        assert len(theirs) > 5  # the test's own frames are in it


def test_pyinfra_operations_use_it_once_installed(monkeypatch):
    import sys

    from funasr_fleet.pyinfra_internals import use_fast_pyinfra

    module = sys.modules["pyinfra.api.operation"]
    monkeypatch.setattr(module, "get_operation_order_from_stack", get_operation_order_from_stack)
    use_fast_pyinfra()
    assert module.get_operation_order_from_stack is operation_order
    for name, function in (("pyinfra.api.arguments", "all_global_arguments"),
                           ("pyinfra.api.inventory", "get_all_connectors")):
        assert hasattr(getattr(sys.modules[name], function), "cache_info"), (name, function)


@pytest.mark.parametrize("sudo", [True, False])
def test_ssh_exec_runs_the_command_as_pyinfra_would_with_sudo(sudo):
    """docker load streams over the SSH client directly: with the operation's _sudo."""
    from pyinfra.api import Config, Inventory, State, StringCommand
    from pyinfra.api.arguments import pop_global_arguments

    from funasr_fleet.pyinfra_internals import ssh_exec

    inventory = Inventory((["@local"], {}))
    state = State(inventory, Config())
    host = inventory.get_host("@local")
    sent = []
    host.connector.client = SimpleNamespace(exec_command=sent.append)
    arguments, _ = pop_global_arguments(state, host, {"_sudo": sudo})
    host.current_op_global_arguments = arguments
    ssh_exec(state, host, StringCommand("docker", "load"))
    assert ("sudo" in sent[0]) == sudo and "docker load" in sent[0], sent
