"""GPU hosts: the driver check runs before any change and names the fix."""

import pytest
from pyinfra.context import ctx_host

from funasr_fleet.deploys.service import gpus_ready
from funasr_fleet.errors import SettingsError
from funasr_fleet.settings import load_settings
from helpers import FakeHost, make_inventory

A10 = [{"index": str(i), "name": "NVIDIA A10", "uuid": f"GPU-{i}{i}{i}{i}aaaa-22bb", "memory_mib": 23028,
        "driver": "550.54.15"} for i in range(2)]


def ready(facts, **data):
    settings = load_settings(make_inventory([("g1", {"funasr_profile": "offline-gpu",
                                                     "funasr_version": "0.2.1", **data})]).get_host("g1"))
    fake = FakeHost({"NvidiaGpus": facts})
    with ctx_host.use(fake):
        return gpus_ready(settings), fake


def test_a_gpu_host_without_a_driver_is_refused_with_the_fix():
    with pytest.raises(SettingsError) as error:
        ready({"ok": False, "error": "nvidia-smi not found", "gpus": []})
    message = str(error.value)
    assert "g1: funasr_profile = 'offline-gpu' needs a working NVIDIA driver" in message
    assert "nvidia-smi not found" in message and "does not install drivers" in message


def test_requested_gpus_must_exist():
    facts = {"ok": True, "error": "", "gpus": A10}
    assert ready(facts)[0] == A10
    assert ready(facts, funasr_gpus=["1", "GPU-0000aaaa-22bb"])[0] == A10
    for wanted, missing in ((["2"], "2"), (3, "3 GPUs")):
        with pytest.raises(SettingsError, match=f"asks for {missing}, but nvidia-smi lists 2"):
            ready(facts, funasr_gpus=wanted)


def test_cpu_hosts_never_ask_for_gpus():
    settings = load_settings(make_inventory([("c1", {})]).get_host("c1"))
    fake = FakeHost({})
    with ctx_host.use(fake):
        assert gpus_ready(settings) == []
    assert fake.fact_calls == []


def test_gpus_visible_checks_the_count_nvidia_smi_lists_in_a_container():
    from funasr_fleet.facts.nvidia import GpusInContainer
    from funasr_fleet.operations.nvidia import gpus_visible
    from helpers import run_operation

    seen = GpusInContainer().process(["GPU 0: A10 (UUID: GPU-0)", "GPU 1: A10 (UUID: GPU-1)", "rc=0"])
    assert seen["ok"] and len(seen["gpus"]) == 2
    args = {"image": "f:gpu", "gpus": "all"}
    assert run_operation(gpus_visible, {"GpusInContainer": seen}, expected=2, **args)[0] == []
    missing = GpusInContainer().process(["docker: could not select device driver \"nvidia\"", "rc=125"])
    commands, _ = run_operation(gpus_visible, {"GpusInContainer": missing}, expected=2, **args)
    assert len(commands) == 1 and "_gpus_missing" in commands[0]


def test_docker_gpus_value_matches_the_reservation():
    from funasr_fleet.deploys.service import docker_gpus_value

    def value(gpus):
        settings = load_settings(make_inventory([("g1", {"funasr_profile": "offline-gpu", "funasr_version": "0.2.1",
                                                         "funasr_gpus": gpus})]).get_host("g1"))
        return docker_gpus_value(settings, A10)

    assert value("all") == ("all", 2) and value(1) == ("1", 1)
    assert value(["0", "1"]) == ('"device=0,1"', 2)
