"""
The lab's FunASR stand-in as a REPLICA of the real C++ servers' decisions.

Table-driven: each row is (kind, command line, model files present, environment) ->
the server starts (with which roles, hotword path, ssl) or exits (status and the exact
message of the C++). Every row cites the FunASR source line it replays (file names as in
the docstring of the stand-in package, funasr_fleet/lab/standin/__init__.py; HEAD 3c58cb56,
the 2pass WebSocket code at 1819303f5).
Then the protocol, against the stand-in run as a subprocess on 127.0.0.1.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from funasr_fleet.lab.standin import download_tool
from funasr_fleet.lab.standin.options import parse_options
from funasr_fleet.lab.standin.process import server_kind
from funasr_fleet.lab.standin.record import Startup
from funasr_fleet.lab.standin.startup import extract_hws, startup
from helpers import STANDIN_MODEL_FILES, free_port

# The launcher the image installs at the real binaries' paths (it runs the package).
STANDIN = Path(__file__).resolve().parents[2] / "funasr_fleet" / "lab" / "standin" / "funasr_standin.py"

# The real file names per role (com-define.h), what a complete local model set holds.
FILES = STANDIN_MODEL_FILES
OPTION_OF = {"asr": "--model-dir", "online": "--online-model-dir", "vad": "--vad-dir",
             "punc": "--punc-dir", "itn": "--itn-dir", "lm": "--lm-dir"}
ROLES = {"2pass": ("vad", "asr", "online", "punc", "itn", "lm"),
         "offline": ("vad", "asr", "punc", "itn", "lm")}
ENV = {"FUNASR_STANDIN_EXPORT_SECONDS": "0"}
GPU = {**ENV, "FUNASR_STANDIN_GPU_BUILD": "1", "NVIDIA_VISIBLE_DEVICES": "all"}
GPU_NONE = {**ENV, "FUNASR_STANDIN_GPU_BUILD": "1"}
DL = "{dl}"
LM_ID = "damo/speech_ngram_lm_zh-cn-ai-wesp-fst"
ALL = {"vad": True, "asr": True, "online_asr": True, "punc": True, "itn": True, "lm": True}


def make_models(root, remove=(), add=()):
    """A complete model set under ``root`` minus ``remove`` plus ``add`` ((dir, file) pairs)."""
    for name, files in FILES.items():
        (root / name).mkdir()
        for filename in files:
            if (name, filename) not in remove:
                (root / name / filename).write_bytes(b"stand-in")
    for name, filename in add:
        (root / name / filename).write_bytes(b"stand-in")
    (root / "dl").mkdir()
    (root / "hotwords.txt").write_text("阿里巴巴 20\n小智 同学 30\n", encoding="utf-8")
    return root


def command(kind, root, drop=(), extra=(), use=None):
    """argv: every role's local dir (except ``drop``; ``use`` maps a role to another dir),
    a tmp download dir, the hotword file, plain ws; then ``extra``."""
    argv = [f"funasr-wss-server{'-2pass' if kind == '2pass' else ''}",
            "--download-model-dir", str(root / "dl"), "--hotword", str(root / "hotwords.txt")]
    if "--certfile" not in extra:
        argv += ["--certfile", ""]
    for role in ROLES[kind]:
        if role not in drop:
            argv += [OPTION_OF[role], str(root / (use or {}).get(role, role))]
    return argv + [str(part).format(root=root, dl=root / "dl") for part in extra]


# (id, kind, drop, extra args, remove files, add files, env, exit status or None,
#  expected line ("{root}", "{dl}" substituted), loaded roles or None, hotword path)
ROWS = [
    # ---- 2pass: complete local set: every role loads, hotwords act through the LM
    # (tpass-stream.cpp:4-136; FunASRWfstDecoderInit needs paraformer->lm_, funasrruntime.cpp:849-858)
    ("2pass-complete", "2pass", (), (), (), (), ENV, None,
     "asr model init finished. listen on port:10095", ALL, "lm"),
    # ---- defaults that download (the stand-in has no network: the tool fails, the file is missing)
    # funasr-wss-server-2pass.cpp:128-129 default --lm-dir, :370-403 download + TLG.fst check
    ("2pass-lm-default", "2pass", ("lm",), (), (), (), ENV, 255,
     f"{DL}/{LM_ID}/TLG.fst do not exists.", None, None),
    # funasr-wss-server-2pass.cpp:70-74 default --vad-dir, :212-248
    ("2pass-vad-default", "2pass", ("vad",), (), (), (), ENV, 255,
     f"{DL}/damo/speech_fsmn_vad_zh-cn-16k-common-onnx/model_quant.onnx do not exists.", None, None),
    # funasr-wss-server-2pass.cpp:45-49 default --model-dir, :258-317
    ("2pass-asr-default", "2pass", ("asr",), (), (), (), ENV, 255,
     f"{DL}/damo/speech_paraformer-large_asr_nat-zh-cn-16k-common-vocab8404-onnx/model_quant.onnx "
     "do not exists.", None, None),
    # funasr-wss-server-2pass.cpp:50-54 default --online-model-dir, :326-361
    ("2pass-online-default", "2pass", ("online",), (), (), (), ENV, 255,
     f"{DL}/damo/speech_paraformer-large_asr_nat-zh-cn-16k-common-vocab8404-online-onnx/"
     "model_quant.onnx do not exists.", None, None),
    # funasr-wss-server-2pass.cpp:82-86 default --punc-dir, :413-449
    ("2pass-punc-default", "2pass", ("punc",), (), (), (), ENV, 255,
     f"{DL}/damo/punc_ct-transformer_zh-cn-common-vad_realtime-vocab272727-onnx/model_quant.onnx "
     "do not exists.", None, None),
    # funasr-wss-server-2pass.cpp:95-99 default --itn-dir, :458-491
    ("2pass-itn-default", "2pass", ("itn",), (), (), (), ENV, 255,
     f"{DL}/thuduj12/fst_itn_zh/zh_itn_tagger.fst do not exists.", None, None),
    # funasr-wss-server-2pass.cpp:383-384: the ModelScope branch's log line
    ("2pass-lm-download-line", "2pass", ("lm",), (), (), (), ENV, 255,
     f"Download model: {LM_ID} from modelscope : ", None, None),
    # funasr-wss-server-2pass.cpp:396-398: a failing tool only logs
    ("2pass-lm-tool-failed", "2pass", ("lm",), (), (), (), ENV, 255,
     "Failed to download model from modelscope. If you set local lm model path, you can ignore the errors.",
     None, None),
    # ---- roles switched off: funasr-wss-server-2pass.cpp:370 (LM: empty, none, NONE) and :408-410
    ("2pass-lm-empty", "2pass", ("lm",), ("--lm-dir", ""), (), (), ENV, None,
     "LM model is not set, not executed.", {**ALL, "lm": False}, None),
    ("2pass-lm-none", "2pass", ("lm",), ("--lm-dir", "none"), (), (), ENV, None,
     "LM model is not set, not executed.", {**ALL, "lm": False}, None),
    ("2pass-lm-NONE", "2pass", ("lm",), ("--lm-dir", "NONE"), (), (), ENV, None,
     "LM model is not set, not executed.", {**ALL, "lm": False}, None),
    # funasr-wss-server-2pass.cpp:458, 496-497; loader tpass-stream.cpp:120-127 ("" has no files)
    ("2pass-itn-empty", "2pass", ("itn",), ("--itn-dir", ""), (), (), ENV, None,
     "ITN model is not set, use default.", {**ALL, "itn": False}, "lm"),
    # funasr-wss-server-2pass.cpp:212, 254-255; tpass-stream.cpp:18-22: starts (exits at first use)
    ("2pass-vad-empty", "2pass", ("vad",), ("--vad-dir", ""), (), (), ENV, None,
     "VAD model file is not exist, skip load vad model.", {**ALL, "vad": False}, "lm"),
    # funasr-wss-server-2pass.cpp:413, 454-455; tpass-stream.cpp:107-111
    ("2pass-punc-empty", "2pass", ("punc",), ("--punc-dir", ""), (), (), ENV, None,
     "PUNC model file is not exist, skip load punc model.", {**ALL, "punc": False}, "lm"),
    # ---- each role's files (loaders)
    # tpass-stream.cpp:18-22: VAD needs model, am.mvn, config.yaml, else skip
    ("2pass-vad-no-mvn", "2pass", (), (), (("vad", "am.mvn"),), (), ENV, None,
     "VAD model file is not exist, skip load vad model.", {**ALL, "vad": False}, "lm"),
    # funasr-wss-server-2pass.cpp:236-248 + runtime_sdk_download_tool.py:47-55: export needs model.pt
    ("2pass-vad-no-model", "2pass", (), (), (("vad", "model_quant.onnx"),), (), ENV, 255,
     "{root}/vad/model_quant.onnx do not exists.", None, None),
    ("2pass-vad-export-tried", "2pass", (), (), (("vad", "model_quant.onnx"),), (), ENV, 255,
     "model is not exist, begin to export {root}/vad/model_quant.onnx", None, None),
    # funasr-wss-server-2pass.cpp:309-317 checks model.onnx with --quantize false, while the
    # tool (--quantize True, :210) checked model_quant.onnx: nothing exports model.onnx
    ("2pass-quantize-false", "2pass", (), ("--quantize", "false"), (), (), ENV, 255,
     "{root}/asr/model.onnx do not exists.", None, None),
    # paraformer.cpp:83-88: the online decoder (tpass-stream.cpp:68)
    ("2pass-no-decoder", "2pass", (), (), (("online", "decoder_quant.onnx"),), (), ENV, 255,
     "Error when load am decoder model: Load model from {root}/online/decoder_quant.onnx failed:"
     "Load model {root}/online/decoder_quant.onnx failed. File doesn't exist", None, None),
    # paraformer.cpp:194-202 LoadOnlineConfigFromYaml (tpass-stream.cpp:71: the online dir's)
    ("2pass-no-online-config", "2pass", (), (), (("online", "config.yaml"),), (), ENV, 255,
     "Error loading file, yaml file error or not exist.", None, None),
    # vocab.cpp:46-55 (paraformer.cpp:128, tokens of the online dir)
    ("2pass-no-online-tokens", "2pass", (), (), (("online", "tokens.json"),), (), ENV, 255,
     "Error loading token file, token file error or not exist.", None, None),
    # paraformer.cpp:314-320 LoadCmvn (paraformer.cpp:130)
    ("2pass-no-online-mvn", "2pass", (), (), (("online", "am.mvn"),), (), ENV, 255,
     "Failed to open file: {root}/online/am.mvn", None, None),
    # tpass-stream.cpp:70-74 + paraformer.cpp:134-150: the 2pass offline model's config/tokens/mvn are not read
    ("2pass-offline-model-config-unused", "2pass", (),
     (), (("asr", "config.yaml"), ("asr", "tokens.json"), ("asr", "am.mvn")), (), ENV, None,
     "Successfully load model from {root}/asr/model_quant.onnx", ALL, "lm"),
    # tpass-stream.cpp:86-89: no lexicon.txt -> ERROR, LM off, hotwords inert
    ("2pass-lm-no-lexicon", "2pass", (), (), (("lm", "lexicon.txt"),), (), ENV, None,
     "Lexicon.txt file is not exist, please use the latest version. Skip load LM model.",
     {**ALL, "lm": False}, None),
    # paraformer.cpp:159 -> vocab.cpp:29-36: LM config.yaml missing -> exit(-1)
    ("2pass-lm-no-config", "2pass", (), (), (("lm", "config.yaml"),), (), ENV, 255,
     "Error loading file, yaml file error or not exist.", None, None),
    # paraformer.cpp:160
    ("2pass-lm-loaded", "2pass", (), (), (), (), ENV, None,
     "Successfully load lm file {root}/lm/TLG.fst", ALL, "lm"),
    # funasr-wss-server-2pass.cpp:399-403: TLG.fst is the LM's checked file
    ("2pass-lm-no-fst", "2pass", (), (), (("lm", "TLG.fst"),), (), ENV, 255,
     "{root}/lm/TLG.fst do not exists.", None, None),
    # tpass-stream.cpp:124-127: ITN needs tagger AND verbalizer; the server checks only the tagger (:487-491)
    ("2pass-itn-no-verbalizer", "2pass", (), (), (("itn", "zh_itn_verbalizer.fst"),), (), ENV, None,
     "ITN model file is not exist, skip load ITN model.", {**ALL, "itn": False}, "lm"),
    ("2pass-itn-no-tagger", "2pass", (), (), (("itn", "zh_itn_tagger.fst"),), (), ENV, 255,
     "{root}/itn/zh_itn_tagger.fst do not exists.", None, None),
    # tpass-stream.cpp:107-111
    ("2pass-punc-no-tokens", "2pass", (), (), (("punc", "tokens.json"),), (), ENV, None,
     "PUNC model file is not exist, skip load punc model.", {**ALL, "punc": False}, "lm"),
    # tpass-stream.cpp:54-59 + paraformer.cpp:243: model_eb.onnx AND seg_dict -> embedding
    ("2pass-contextual", "2pass", ("lm",), ("--lm-dir", ""), (),
     (("asr", "model_eb.onnx"), ("asr", "seg_dict")), ENV, None,
     "Successfully load model from {root}/asr/model_eb.onnx", {**ALL, "lm": False}, "embedding"),
    # tpass-stream.cpp:54-55: model_eb.onnx alone is not enough in the 2pass server
    ("2pass-eb-without-seg-dict", "2pass", ("lm",), ("--lm-dir", ""), (), (("asr", "model_eb.onnx"),),
     ENV, None, "asr model init finished. listen on port:10095", {**ALL, "lm": False}, None),
    # ---- TCLAP (tclap/CmdLine.h:457-530, tclap/ValueArg.h:335-419, tclap/StdOutput.h:132-154)
    ("2pass-unknown-option", "2pass", (), ("--gpu",), (), (), ENV, 1,
     "PARSE ERROR: Argument: --gpu", None, None),
    ("2pass-int-parse", "2pass", (), ("--port", "10x"), (), (), ENV, 1,
     "             Couldn't read argument value from string '10x'", None, None),
    ("2pass-int-two-values", "2pass", (), ("--decoder-thread-num", "4 4"), (), (), ENV, 1,
     "             More than one valid value parsed from string '4 4'", None, None),
    # the CmdLine's delimiter is ' ' (funasr-wss-server-2pass.cpp:40; tclap/Arg.h:611-627)
    ("2pass-equals-is-no-option", "2pass", (), ("--port=10096",), (), (), ENV, 1,
     "PARSE ERROR: Argument: --port=10096", None, None),
    ("2pass-space-in-one-element", "2pass", (), ("--port 10096",), (), (), ENV, None,
     "asr model init finished. listen on port:10096", ALL, "lm"),
    ("2pass-option-twice", "2pass", (), ("--port", "1", "--port", "2"), (), (), ENV, 1,
     "             Argument already set!", None, None),
    ("2pass-missing-value", "2pass", (), ("--port",), (), (), ENV, 1,
     "             Missing a value for this argument!", None, None),
    # ---- ssl: funasr-wss-server-2pass.cpp:526-529, 544-555
    ("2pass-cert-missing", "2pass", (), ("--certfile", "{root}/nope.crt"), (), (), ENV, None,
     "SSL is closed!", ALL, "lm"),
    # ---- offline server
    # offline-stream.cpp: VAD, ASR, LM, PUNC, ITN all local
    ("offline-complete", "offline", (), (), (), (), ENV, None,
     "model successfully inited", {"vad": True, "asr": True, "punc": True, "itn": True, "lm": True}, "lm"),
    # funasr-wss-server.cpp:205 isSet(): VAD not given -> not downloaded; loader looks at the
    # default /workspace/models/vad (offline-stream.cpp:7-22), absent here
    ("offline-vad-not-given", "offline", ("vad",), (), (), (), ENV, None,
     "VAD model is not set, use default.", {"vad": False, "asr": True, "punc": True, "itn": True, "lm": True},
     "lm"),
    # funasr-wss-server.cpp:119-120 default --lm-dir, :364-401 (no isSet() for the LM)
    ("offline-lm-default", "offline", ("lm",), (), (), (), ENV, 255,
     f"{DL}/{LM_ID}/TLG.fst do not exists.", None, None),
    # funasr-wss-server.cpp:90-94 default --itn-dir, :322-359 (no isSet() for ITN)
    ("offline-itn-default", "offline", ("itn",), (), (), (), ENV, 255,
     f"{DL}/thuduj12/fst_itn_zh/zh_itn_tagger.fst do not exists.", None, None),
    # funasr-wss-server.cpp:322, 360-361
    ("offline-itn-empty", "offline", ("itn",), ("--itn-dir", ""), (), (), ENV, None,
     "ITN model is not set, not executed.", {"vad": True, "asr": True, "punc": True, "itn": False, "lm": True},
     "lm"),
    # offline-stream.cpp:63-67: model_eb.onnx alone switches nn hotwords on; seg_dict.cpp:23
    ("offline-eb-alone", "offline", ("lm",), ("--lm-dir", ""), (), (("asr", "model_eb.onnx"),), ENV, None,
     "{root}/asr/seg_dict open failed !!", {"vad": True, "asr": True, "punc": True, "itn": True, "lm": False},
     "embedding"),
    # offline-stream.cpp:98-101
    ("offline-lm-no-lexicon", "offline", (), (), (("lm", "lexicon.txt"),), (), ENV, None,
     "Lexicon.txt file is not exist, please use the latest version. Skip load LM model.",
     {"vad": True, "asr": True, "punc": True, "itn": True, "lm": False}, None),
    # paraformer.cpp:170-178: the offline ASR reads its own config.yaml
    ("offline-no-asr-config", "offline", (), (), (("asr", "config.yaml"),), (), ENV, 255,
     "Error loading file, yaml file error or not exist.", None, None),
    # --gpu is a switch (funasr-wss-server.cpp:128): a value after it is an unmatched argument
    ("offline-gpu-takes-no-value", "offline", (), ("--gpu", "true"), (), (), ENV, 1,
     "PARSE ERROR: Argument: true", None, None),
    ("offline-batch-size-int", "offline", (), ("--batch-size", "four"), (), (), ENV, 1,
     "             Couldn't read argument value from string 'four'", None, None),
    # ---- GPU (funasr-wss-server.cpp:276-304; runtime_sdk_download_tool.py:41-55)
    # GPU build, GPUs visible, -pytorch repo: the tool exports model_blade.torchscript
    ("gpu-export", "offline", (), ("--gpu",), (), (), GPU, None,
     "model is not exist, begin to export {root}/torch/model_blade.torchscript",
     {"vad": True, "asr": True, "punc": True, "itn": True, "lm": True}, "lm"),
    # no GPUs reach the container: bladedisc export asserts CUDA (export_utils.py@cd4c6485e:30-33)
    ("gpu-no-devices", "offline", (), ("--gpu",), (), (), GPU_NONE, 255,
     "{root}/torch/model_blade.torchscript do not exists.", None, None),
    ("gpu-devices-void", "offline", (), ("--gpu",), (), (),
     {**GPU_NONE, "NVIDIA_VISIBLE_DEVICES": "void"}, 255,
     "{root}/torch/model_blade.torchscript do not exists.", None, None),
    # funasr-wss-server.cpp:299-301: --bladedisc false -> model.torchscript
    ("gpu-torchscript", "offline", (), ("--gpu", "--bladedisc", "false"), (), (), GPU, None,
     "Successfully load model from {root}/torch/model.torchscript",
     {"vad": True, "asr": True, "punc": True, "itn": True, "lm": True}, "lm"),
    # torchscript exports on the CPU (export_utils.py@cd4c6485e:26-29), but the GPU build's
    # loader needs CUDA (paraformer-torch.cpp:36-39)
    ("gpu-torchscript-no-devices", "offline", (), ("--gpu", "--bladedisc", "false"), (), (), GPU_NONE, 255,
     "CUDA is not available! Please check your GPU settings", None, None),
    # CPU build with --gpu: the tool still wants model_blade.torchscript (funasr-wss-server.cpp:299-304)
    ("cpu-build-gpu-flag", "offline", (), ("--gpu",), (), (), ENV, 255,
     "{root}/torch/model_blade.torchscript do not exists.", None, None),
    # ...and when that file exists, offline-stream.cpp:44-48 falls back to the CPU path
    ("cpu-build-gpu-fallback", "offline", (), ("--gpu",), (),
     (("torch", "model_blade.torchscript"), ("torch", "model_quant.onnx")), ENV, None,
     "GPU is not supported! CPU will be used! If you want to use GPU, please add -DGPU=ON when cmake",
     {"vad": True, "asr": True, "punc": True, "itn": True, "lm": True}, "lm"),
]


@pytest.mark.parametrize("row", ROWS, ids=[row[0] for row in ROWS])
def test_startup_replays_the_cpp_decisions(tmp_path, row):
    name, kind, drop, extra, remove, add, env, status, line, loaded, hotword_path = row
    root = make_models(tmp_path, remove, add)
    use = {"asr": "torch"} if name.startswith(("gpu-", "cpu-build")) else None
    st = startup(kind, command(kind, root, drop, extra, use), env)
    expected = line.format(root=root, dl=root / "dl")
    messages = [message for _, _, message in st.lines]
    assert expected in messages, f"{expected!r} not in:\n{st.text}"
    assert st.exit_code == status, st.text
    if status is None:
        assert {role: st.loaded.get(role) for role in loaded} == loaded
        assert st.hotword_path == hotword_path
        assert st.ssl is False


def test_every_start_runs_the_download_tool_local_or_not(tmp_path):
    # funasr-wss-server-2pass.cpp:217-236: system() for a local path too (--export-dir ./)
    root = make_models(tmp_path)
    st = startup("2pass", command("2pass", root), ENV)
    assert [run["role"] for run in st.tool_runs] == ["vad", "asr", "online_asr", "lm", "punc", "itn"]
    assert {run["export_dir"] for run in st.tool_runs} == {"./"}
    assert [run["export"] for run in st.tool_runs] == [True, True, True, False, True, False]
    assert {run["quantize"] for run in st.tool_runs} == {"True"}  # :210, whatever --quantize says


def test_gpu_export_writes_once_into_a_writable_dir(tmp_path):
    root = make_models(tmp_path)
    argv = command("offline", root, extra=("--gpu",), use={"asr": "torch"})
    first = startup("offline", argv, GPU)
    assert first.exit_code is None and first.exports == [str(root / "torch" / "model_blade.torchscript")]
    assert (root / "torch" / "model_blade.torchscript").is_file()
    second = startup("offline", argv, GPU)  # runtime_sdk_download_tool.py:47: file exists
    assert second.exit_code is None and second.exports == []
    assert "CUDA is available, running on GPU" in second.text


def test_gpu_export_into_a_read_only_dir_fails(tmp_path, monkeypatch):
    root = make_models(tmp_path)
    (root / "torch").chmod(0o555)
    if os.geteuid() == 0:  # root ignores the mode bits; a read-only mount would refuse
        monkeypatch.setattr(download_tool, "_writable",
                            lambda path: not str(path).startswith(str(root / "torch")))
    try:
        st = startup("offline", command("offline", root, extra=("--gpu",), use={"asr": "torch"}), GPU)
    finally:
        (root / "torch").chmod(0o755)
    assert st.exit_code == 255
    assert f"PermissionError: [Errno 13] Permission denied: '{root / 'torch'}'" in st.text
    assert f"{root / 'torch' / 'model_blade.torchscript'} do not exists." in st.text


def test_ssl_with_an_existing_cert_file(tmp_path):
    root = make_models(tmp_path)
    (root / "server.crt").write_text("x")
    st = startup("2pass", command("2pass", root, extra=("--certfile", "{root}/server.crt")), ENV)
    assert st.ssl is True and "SSL is opened!" in st.text


def test_option_defaults_and_int_types():
    values, given = parse_options("2pass", [])
    assert given == set()
    assert (values["io-thread-num"], values["decoder-thread-num"], values["model-thread-num"]) == (2, 8, 2)
    assert values["lm-dir"] == LM_ID and values["itn-dir"] == "thuduj12/fst_itn_zh"
    assert (values["vad-revision"], values["offline-model-revision"]) == ("v2.0.4", "v2.0.5")
    assert values["certfile"] == "../../../ssl_key/server.crt" and values["port"] == 10095
    values, given = parse_options("offline", ["--gpu", "--port", " 7"])
    assert given == {"gpu", "port"} and values["gpu"] is True and values["port"] == 7
    assert values["model-dir"] == "/workspace/models/asr" and values["model-thread-num"] == 1
    assert values["batch-size"] == 4 and values["bladedisc"] == "true" and values["vad-revision"] == "v2.0.6"
    values, _ = parse_options("offline", ["--port", ""])  # an empty string reads nothing
    assert values["port"] == 10095


def test_hotword_file_is_parsed_as_extract_hws_does(tmp_path):
    path = tmp_path / "hw.txt"
    path.write_text("阿里巴巴 20\n  小智  同学 30.7 \nlonely\nbad x\n\n", encoding="utf-8")
    st = Startup("2pass", {})
    assert extract_hws(st, str(path)) == {"阿里巴巴": 20, "小智 同学": 30}
    assert [m for _, _, m in st.lines] == ["hotwords: ", "阿里巴巴 : 20", "小智 同学 : 30.7", "stof"]
    st = Startup("2pass", {})
    assert extract_hws(st, str(tmp_path / "none.txt")) == {}
    assert st.lines[0][2].startswith("Unable to open hotwords file: ")


def test_kind_from_argv0_or_env():
    assert server_kind("/x/funasr-wss-server-2pass", {}) == "2pass"
    assert server_kind("/x/funasr-wss-server", {}) == "offline"
    assert server_kind("/x/funasr-wss-server", {"FUNASR_STANDIN_KIND": "2pass"}) == "2pass"


def test_no_network_is_ever_touched(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the stand-in opened a socket or resolved a name")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    root = make_models(tmp_path)
    st = startup("2pass", command("2pass", root, drop=("vad", "asr", "lm")), ENV)
    assert st.exit_code == 255 and "TypeError: exceptions must derive from BaseException" in st.text


# --------------------------------------------------------------------------- protocol

@pytest.fixture
def run(tmp_path):
    started = []

    def start(kind="2pass", drop=(), extra=(), remove=(), add=(), env=None):
        root = tmp_path / f"m{len(started)}"
        root.mkdir()
        make_models(root, remove, add)
        port = free_port()
        argv = command(kind, root, drop, ("--listen-ip", "127.0.0.1", "--port", str(port), *extra))
        process = subprocess.Popen([sys.executable, str(STANDIN), *argv[1:]], stderr=subprocess.PIPE,
                                   text=True, env={**os.environ, "FUNASR_STANDIN_KIND": kind,
                                                   "FUNASR_STANDIN_LOAD_SECONDS": "0", **ENV, **(env or {})})
        started.append(process)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                from websockets.sync.client import connect

                with connect(f"ws://127.0.0.1:{port}", open_timeout=0.5):
                    break
            except Exception:  # refused, or the handshake not answered yet
                if process.poll() is not None:
                    raise AssertionError(process.stderr.read())
                time.sleep(0.05)
        return process, f"ws://127.0.0.1:{port}"

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait()


def speech():
    from funasr_fleet.probe import read_sample

    return read_sample()


def session(url, pcm, header, quiet=1.0):
    """Send header, PCM in 100 ms frames, end of input; return every reply until ``quiet``
    seconds pass without one."""
    from websockets.sync.client import connect

    replies = []
    with connect(url, max_size=None) as websocket:
        websocket.send(json.dumps(header))
        for start in range(0, len(pcm), 3200):
            websocket.send(pcm[start:start + 3200])
        websocket.send(json.dumps({"is_speaking": False}))
        while True:
            try:
                replies.append(json.loads(websocket.recv(timeout=quiet)))
            except TimeoutError:
                return replies


HEADER = {"mode": "2pass", "chunk_size": [5, 10, 5], "chunk_interval": 10, "wav_name": "t",
          "wav_format": "pcm", "audio_fs": 16000, "is_speaking": True, "hotwords": "", "itn": True}
SILENCE = bytes(32000 * 2)


def test_2pass_speech_gets_partials_and_a_final(run):
    _, url = run()
    replies = session(url, speech(), HEADER)
    assert replies[:-1] and all(r["mode"] == "2pass-online" and r["is_final"] is False for r in replies[:-1])
    final = replies[-1]
    assert final["mode"] == "2pass-offline" and final["is_final"] is True
    assert final["text"].startswith("stand-in: ") and "timestamp" in final and "stamp_sents" in final


def test_2pass_silence_gets_an_empty_final_without_mode(run):
    _, url = run()
    assert session(url, SILENCE, HEADER) == [{"text": "", "wav_name": "t", "is_final": True}]


def test_mode_offline_to_the_2pass_server_gets_no_partials(run):
    _, url = run()
    replies = session(url, speech(), dict(HEADER, mode="offline"))
    assert len(replies) == 1 and replies[0]["mode"] == "2pass-offline" and replies[0]["is_final"] is True


def test_no_chunk_size_no_reply(run):
    process, url = run()
    header = {key: value for key, value in HEADER.items() if key != "chunk_size"}
    assert session(url, speech(), header) == []
    assert process.poll() is None


def test_offline_server_answers_once_also_for_silence(run):
    _, url = run("offline")
    assert session(url, SILENCE, dict(HEADER, mode="offline")) == \
        [{"mode": "offline", "text": "", "is_final": False, "wav_name": "t"}]
    replies = session(url, speech(), dict(HEADER, mode="offline"))
    assert len(replies) == 1 and replies[0]["mode"] == "offline" and replies[0]["is_final"] is False
    assert replies[0]["text"].startswith("stand-in: ")


@pytest.mark.parametrize("drop, extra, add, suffix", [
    ((), (), (), True),                                   # LM loaded: WFST decoder
    (("lm",), ("--lm-dir", ""), (), False),               # no LM, plain paraformer: inert
    (("lm",), ("--lm-dir", ""), (("asr", "model_eb.onnx"), ("asr", "seg_dict")), True),  # embedding
])
def test_hotword_suffix_only_when_hotwords_act(run, drop, extra, add, suffix):
    _, url = run(drop=drop, extra=extra, add=add)
    final = session(url, speech(), dict(HEADER, hotwords=json.dumps({"达摩院": 30})))[-1]
    assert ("[hotwords: 小智 同学, 达摩院, 阿里巴巴]" in final["text"]) is suffix, final
    assert final["mode"] == "2pass-offline"


def test_without_punc_the_2pass_server_never_answers(run):
    _, url = run(drop=("punc",), extra=("--punc-dir", ""))
    assert session(url, speech(), HEADER) == []


def test_without_vad_the_2pass_server_exits_at_the_first_chunk_size(run):
    process, url = run(drop=("vad",), extra=("--vad-dir", ""))
    assert process.poll() is None  # it started and listens
    with pytest.raises(Exception):
        session(url, speech(), HEADER)
    assert process.wait(timeout=5) == 255
    assert "tpass-online-stream.cpp:9] vad_handle is null" in process.stderr.read()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_default_signal_disposition_outside_pid_1(run, signum):
    process, _ = run()
    process.send_signal(signum)
    assert process.wait(timeout=5) == -signum  # killed by the signal: no handler, no traceback
    assert "KeyboardInterrupt" not in process.stderr.read()


def test_fault_switch_accepts_and_never_answers(run):
    _, url = run(env={"FUNASR_STANDIN_FAIL": "1"})
    assert session(url, speech(), HEADER) == []


# --------------------------------------------------------------------------- the image

def test_the_package_imports_only_the_standard_library_and_websockets():
    # the image's Python is Debian's python3 with python3-websockets, nothing else
    import ast

    for path in STANDIN.parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import) else
                     [node.module] if isinstance(node, ast.ImportFrom) and not node.level else [])
            for name in names:
                if (path.name, name) == ("funasr_standin.py", "standin.process"):
                    continue  # the launcher imports the package from its parent directory
                top = name.split(".")[0]
                assert top in sys.stdlib_module_names or top == "websockets", f"{path.name}: {name}"


def test_the_image_context_holds_the_package_and_the_dockerfile_layout_runs_it(tmp_path):
    """images.build_standin's build context holds every module of the package; the layout
    the Dockerfile makes of it (the package copied, its launcher linked at the real
    binaries' paths), made here under tmp_path without Docker, starts the server the
    link's name says."""
    import re

    from funasr_fleet.lab import images

    context = images.standin_package()
    assert context == {f"standin/{path.name}": path.read_bytes() for path in STANDIN.parent.glob("*.py")}
    assert {"standin/__init__.py", "standin/funasr_standin.py", "standin/process.py"} < set(context)
    dockerfile = (Path(images.__file__).parent / "images" / "standin.Dockerfile").read_text()
    copied = re.search(r"^COPY standin (\S+)$", dockerfile, re.M).group(1)
    # COPY standin <dir>: the context's standin/<module>.py lands at <dir>/<module>.py
    images.write_context(tmp_path / copied.lstrip("/"),
                         {name.removeprefix("standin/"): content for name, content in context.items()})
    links = dict((link, target) for target, link in re.findall(r"ln -s (\S+) \\\n\s+(\S+)", dockerfile))
    binaries = "/workspace/FunASR/runtime/websocket/build/bin"
    assert links == {f"{binaries}/{name}": f"{copied}/funasr_standin.py"
                     for name in ("funasr-wss-server-2pass", "funasr-wss-server")}
    for link, target in links.items():
        (tmp_path / link.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / link.lstrip("/")).symlink_to(tmp_path / target.lstrip("/"))
    env = {key: value for key, value in os.environ.items()
           if key not in ("FUNASR_STANDIN_KIND", "PYTHONPATH")}
    for name, only_option in (("funasr-wss-server-2pass", "[--online-model-dir <string>]"),
                              ("funasr-wss-server", "[--gpu]")):
        # WORKDIR is the binaries' directory; the image runs e.g. ./funasr-wss-server
        shown = subprocess.run([sys.executable, f"./{name}", "--help"], capture_output=True, text=True,
                               cwd=tmp_path / binaries.lstrip("/"), env=env, timeout=30)
        assert shown.returncode == 0, shown.stderr
        assert f"   ./{name}  [--download-model-dir <string>]" in shown.stderr
        assert only_option in shown.stderr
