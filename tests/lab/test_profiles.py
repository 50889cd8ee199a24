"""
Every profile starts on the lab's replica of the real FunASR servers
(funasr_fleet/lab/standin, which makes the C++ servers' start-up decisions) and passes
the gate: 2pass with the LM and hotwords (the lab's default), 2pass with the LM and ITN
off, the offline CPU server, and the offline GPU server, whose first start exports its
TorchScript model once into the host's writable copy and whose later starts reuse it.
Then xiaozhi-esp32-server's FunASR client (a replica) against xiaozhi-config's target.
Runs after test_models.py and puts the lab back to its defaults at the end.
"""

import subprocess
import sys

import pytest
import yaml

from conftest import REPO, grand_total
from funasr_fleet.lab.xiaozhi_client import recognise
from funasr_fleet.probe import probe, read_sample

pytestmark = pytest.mark.lab

LM_DIR = "/workspace/models/iic/speech_ngram_lm_zh-cn-ai-wesp-fst@v1.0.2"
EXPORT_LINE = "model is not exist, begin to export /workspace/models-export/"


def server_log(lab, name):
    return lab.ssh(name, "docker logs funasr-funasr-1 2>&1")


def server_args(lab, name):
    """The server's binary and arguments (with init: true, docker-init runs them)."""
    return lab.ssh(name, "docker inspect -f '{{json .Path}} {{json .Args}}' funasr-funasr-1")


def cpu_hosts(lab):
    return [name for name in lab.hosts if not lab.is_gpu(name)]


def url_of(lab, name):
    return f"ws://127.0.0.1:{lab.entry(name)['service_ports']['10095']}"


def test_hotwords_in_group_data_are_active_through_the_lm(lab):
    """group_data/lab.py sets hotwords; the 2pass model set has the LM, so the server's
    WFST decoder applies them (the stand-in's replica of the real rule, logged as the
    real server logs its LM load: paraformer.cpp InitLm)."""
    for name in cpu_hosts(lab):
        assert f"Successfully load lm file {LM_DIR}/TLG.fst" in server_log(lab, name)
        result = probe(url_of(lab, name), mode="2pass")
        assert result.ok, result
        assert "[hotwords:" in result.text and "阿里巴巴" in result.text, result.text


def test_every_profile_starts_and_passes_the_gate_and_a_second_converge_changes_nothing(lab):
    lm_off, offline = cpu_hosts(lab)[1:3]
    gpu = next(name for name in lab.hosts if lab.is_gpu(name))
    no_hotwords = {"阿里巴巴": None, "语音识别": None}
    lab.set_host_data({
        lm_off: {"funasr_models": {"2pass": {"lm": None, "itn": None}}, "funasr_hotwords": no_hotwords},
        offline: {"funasr_profile": "offline", "funasr_version": "0.4.7"},
        # Another --bladedisc: a new export copy, so this start exports (model.torchscript).
        gpu: {"funasr_gpu_bladedisc": False},
    })
    try:
        result = lab.deploy()
        assert result.returncode == 0, result.output[-5000:]
        # 2pass, LM and ITN off: rendered empty, so the server neither loads nor downloads them.
        args = server_args(lab, lm_off)
        assert '"--lm-dir",""' in args and '"--itn-dir",""' in args
        log = server_log(lab, lm_off)
        assert "LM model is not set, not executed." in log and "Successfully load lm file" not in log
        plain = probe(url_of(lab, lm_off), mode="2pass")
        assert plain.ok and "[hotwords:" not in plain.text, plain
        # The offline CPU server: its own binary, LM loaded, one offline result.
        assert "funasr-wss-server" in server_args(lab, offline)
        assert f"Successfully load lm file {LM_DIR}/TLG.fst" in server_log(lab, offline)
        assert probe(url_of(lab, offline), mode="offline").ok
        # The GPU server: --gpu, exported once into the writable copy; the read-only
        # revision is untouched.
        assert '"--gpu"' in server_args(lab, gpu) and '"--bladedisc","false"' in server_args(lab, gpu)
        assert server_log(lab, gpu).count(EXPORT_LINE) == 1
        listing = lab.ssh(gpu, "ls /opt/funasr/exports/iic/*+torchscript-*/ /opt/funasr/models/iic/*-pytorch@*/")
        assert listing.count("model.torchscript") == 1, listing
        assert lab.probe(gpu)[0] == 0

        second = lab.deploy()
        assert second.returncode == 0, second.output[-5000:]
        assert grand_total(second.output)[1:3] == (0, 0), second.output[-5000:]
        # A later start of the same server reuses the export.
        lab.ssh(gpu, "docker restart funasr-funasr-1")
        assert lab.probe(gpu)[0] == 0
        assert server_log(lab, gpu).count(EXPORT_LINE) == 1
    finally:
        lab.set_host_data({})
    back = lab.deploy()
    assert back.returncode == 0, back.output[-5000:]
    # Back on the earlier --bladedisc: its copy was kept, so this start exports nothing.
    assert EXPORT_LINE not in server_log(lab, gpu)


def xiaozhi_config(*args):
    return subprocess.run([sys.executable, "-m", "funasr_fleet", "xiaozhi-config", "inventory/lab.py",
                           *args], cwd=REPO, capture_output=True, text=True, timeout=120)


def test_xiaozhis_provider_gets_the_text_from_xiaozhi_configs_target_in_under_2s(lab):
    printed = xiaozhi_config()
    assert printed.returncode == 0, printed.stderr
    asr = yaml.safe_load(printed.stdout)["ASR"]["FunASRServer"]
    utterance = recognise(asr["host"], asr["port"], read_sample(), is_ssl=asr["is_ssl"])
    assert utterance.text.startswith("stand-in:") and not utterance.timed_out, utterance
    assert utterance.seconds < 2.0, utterance


def test_xiaozhi_config_refuses_an_offline_host(lab):
    gpu = next(name for name in lab.hosts if lab.is_gpu(name))
    refused = xiaozhi_config("--host", gpu)
    assert refused.returncode != 0
    assert "never sends is_final: true" in refused.stderr
    # What the refusal prevents: the provider against that host waits out its 5 s receive.
    port = lab.entry(gpu)["service_ports"]["10095"]
    stalled = recognise("127.0.0.1", port, read_sample())
    assert stalled.timed_out and stalled.seconds >= 5.0, stalled
