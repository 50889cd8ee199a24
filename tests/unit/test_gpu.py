"""GPU hosts: the driver check runs before any change and names the fix."""

import pytest
from pyinfra.context import ctx_host

from funasr_fleet.deploys import gpus_ready
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
