"""pyinfra runs each operation on every host of the run at once unless the operator chose."""

import sys
from types import SimpleNamespace

import pytest

from funasr_fleet import pyinfra_internals
from funasr_fleet.pyinfra_internals import size_parallel_to_fleet


def fake_state(hosts, parallel):
    return SimpleNamespace(inventory=[object()] * hosts, config=SimpleNamespace(PARALLEL=parallel),
                           pool=SimpleNamespace(size=parallel), fact_pool=None)


@pytest.mark.parametrize("hosts, argv, parallel, files, expected", [
    (1000, [], 40, 20000, 1000),  # pyinfra's default (20 per core, 2 cores): the fleet
    (1000, [], 40, 900, 900),  # as the open-files limit allows
    (30, [], 30, 20000, 30),  # the default is the fleet already
    (1000, ["--parallel", "5"], 5, 20000, 5),  # the operator's --parallel
    (1000, [], 7, 20000, 7),  # PARALLEL = 7 in config.py
])
def test_parallel_is_the_fleet_unless_the_operator_chose(monkeypatch, hosts, argv, parallel, files,
                                                         expected):
    monkeypatch.setattr(pyinfra_internals, "cpu_count", lambda: 2)
    monkeypatch.setattr(pyinfra_internals, "MAX_PARALLEL", 6663)
    monkeypatch.setattr(pyinfra_internals, "open_files_parallel", lambda: files)
    monkeypatch.setattr(sys, "argv", ["pyinfra", *argv, "inventory.py", "deploy.py"])
    state, host_config = fake_state(hosts, parallel), SimpleNamespace(PARALLEL=parallel)
    assert size_parallel_to_fleet(state, host_config) == expected
    assert host_config.PARALLEL == expected
    assert state.pool.size >= expected  # the greenlet pool lets that many run at once
