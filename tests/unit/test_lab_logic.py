"""The lab's pure logic: mirror discovery from apt config, state file, run flags, stand-in models."""

import json

import pytest

from funasr_fleet.lab import aptconf, hosts, state
from funasr_fleet.lab.engine import LabError
from funasr_fleet.lab.standin_models import KINDS, default_model_sets, kind_of, standin_repo

DEB822 = """Types: deb
# a comment
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main
"""


def test_deb822_mirror_skips_security_suites():
    assert aptconf.deb822_mirrors(DEB822) == ["http://mirror.example/debian"]


def test_one_line_sources_with_options():
    text = ("deb [arch=amd64 signed-by=/k.gpg] http://other.example/debian trixie main contrib\n"
            "deb https://packages.example/apt cloud-sdk main\n"
            "deb http://other.example/debian-security trixie-security main\n")
    assert aptconf.one_line_mirrors(text) == ["http://other.example/debian"]


def test_debian_mirror_reads_sources_d_then_sources_list(tmp_path):
    (tmp_path / "etc/apt/sources.list.d").mkdir(parents=True)
    (tmp_path / "etc/apt/sources.list.d/debian.sources").write_text(DEB822)
    (tmp_path / "etc/apt/sources.list").write_text("deb http://second.example/debian trixie main\n")
    assert aptconf.debian_mirror(tmp_path) == "http://mirror.example/debian"


def test_debian_mirror_missing_is_a_clear_error(tmp_path):
    with pytest.raises(RuntimeError, match="no Debian mirror"):
        aptconf.debian_mirror(tmp_path)


def test_state_round_trip_and_missing_state_message(tmp_path, monkeypatch):
    monkeypatch.setenv("FUNASR_LAB_DIR", str(tmp_path))
    with pytest.raises(LabError, match="the lab is not up; start it with `funasr-fleet lab up`"):
        state.load_state()
    state.save_state({"version": state.STATE_VERSION, "hosts": []})
    assert state.load_state()["hosts"] == []
    (tmp_path / "state.json").write_text(json.dumps({"version": 0}))
    with pytest.raises(LabError, match="--fresh"):
        state.load_state()


def test_run_flags_never_privileged_and_publish_on_loopback_only():
    flags = hosts.run_flags(2)
    assert "--privileged" not in flags and "SYS_RESOURCE" not in flags
    published = [flags[i + 1] for i, flag in enumerate(flags) if flag == "--publish"]
    assert published and all(port.startswith("127.0.0.1::") for port in published)
    assert flags[flags.index("--name") + 1] == "funasr-lab-2"
    assert "funasr-lab-2-docker:/var/lib/docker" in flags


@pytest.mark.parametrize("model_id, kind", [
    ("iic/speech_fsmn_vad_zh-cn-16k-common-onnx", "vad"),
    ("thuduj12/fst_itn_zh", "itn"),
    ("iic/speech_paraformer-large_asr_nat-zh-cn-16k-common-vocab8404-online-onnx", "online_asr"),
    ("iic/speech_paraformer-large_asr_nat-zh-cn-16k-common-vocab8404-onnx", "asr"),
    ("iic/speech_paraformer-large-vad-punc_asr_nat-zh-cn-16k-common-vocab8404-onnx", "asr"),
    ("iic/speech_paraformer-large-vad-punc_asr_nat-zh-cn-16k-common-vocab8404-pytorch", "pytorch_asr"),
    ("damo/speech_paraformer-large-contextual_asr_nat-zh-cn-16k-common-vocab8404-onnx", "contextual_asr"),
    ("iic/punc_ct-transformer_zh-cn-common-vad_realtime-vocab272727-onnx", "punc"),
    ("iic/punc_ct-transformer_cn-en-common-vocab471067-large-onnx", "punc_cn_en"),
    ("damo/speech_ngram_lm_zh-cn-ai-wesp-fst", "lm"),
])
def test_standin_repo_kind_from_the_model_id(model_id, kind):
    assert kind_of(model_id) == kind


def test_standin_repos_have_the_real_file_names_of_their_kind_and_stable_content():
    assert {role for role, _ in default_model_sets()} <= {"vad", "asr", "online_asr", "punc", "itn", "lm"}
    assert {kind_of(spec.id) for _, spec in default_model_sets()} <= set(KINDS)
    assert set(KINDS["lm"]) == {"TLG.fst", "config.yaml", "lexicon.txt"}
    assert "decoder_quant.onnx" in KINDS["online_asr"] and "model.onnx" not in KINDS["online_asr"]
    assert {"model_eb.onnx", "seg_dict"} <= set(KINDS["contextual_asr"])
    pytorch = standin_repo("iic/x_asr_nat-pytorch", "v2.0.5", 3_000_000)
    assert not any(name.endswith(".onnx") for name in pytorch)
    assert pytorch["model.pt"].size == 3_000_000 and pytorch["example/asr_example.wav"].size == 4096
    repo = standin_repo("iic/punc_ct-transformer_x", "v1", 3_000_000)
    assert set(repo) == set(KINDS["punc"])
    assert repo["model_quant.onnx"].size == 3_000_000 and repo["config.yaml"].size == 4096
    again = standin_repo("iic/punc_ct-transformer_x", "v1", 3_000_000)["model_quant.onnx"]
    assert again.read(1_048_000, 1000) == repo["model_quant.onnx"].read(1_048_000, 1000)
    assert standin_repo("iic/punc_ct-transformer_x", "v2", 10)["model_quant.onnx"].sha256 != \
        standin_repo("iic/punc_ct-transformer_x", "v1", 10)["model_quant.onnx"].sha256
