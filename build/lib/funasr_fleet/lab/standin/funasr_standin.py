#!/usr/bin/env python3
"""
funasr-fleet's STAND-IN for the FunASR runtime servers. It is NOT FunASR and recognises
nothing: it exists because the real images and models cannot be fetched where the lab
runs. It is a REPLICA of the real C++ servers' DECISIONS (options, model checks, exits,
log lines, protocol replies), each citing the line of the real source it replays.

Sources (github.com/modelscope/FunASR; HEAD = 3c58cb56, 2026-08-21; the 0.1.13 2pass
image's WebSocket code is commit 1819303f5). Citations below use these short names:
  funasr-wss-server-2pass.cpp   runtime/websocket/bin/funasr-wss-server-2pass.cpp (HEAD)
  funasr-wss-server.cpp         runtime/websocket/bin/funasr-wss-server.cpp (HEAD)
  websocket-server-2pass.cpp    runtime/websocket/bin/websocket-server-2pass.cpp @1819303f5
  websocket-server.cpp          runtime/websocket/bin/websocket-server.cpp (HEAD)
  funasrruntime.cpp             runtime/onnxruntime/src/funasrruntime.cpp @1819303f5
  tpass-stream.cpp, offline-stream.cpp, tpass-online-stream.cpp, paraformer.cpp,
  paraformer-torch.cpp, vocab.cpp, util.cpp, seg_dict.cpp, fsmn-vad.cpp,
  ct-transformer.cpp, itn-processor.cpp
                                runtime/onnxruntime/src/<name> (HEAD; identical at 1819303f5)
  com-define.h                  runtime/onnxruntime/include/com-define.h
  tclap/<name>                  runtime/onnxruntime/include/tclap/<name>
  runtime_sdk_download_tool.py  funasr/download/runtime_sdk_download_tool.py (HEAD)
  export_utils.py, auto_model.py funasr/utils/export_utils.py, funasr/auto/auto_model.py
                                as of cd4c6485e (2024-09-26, the GPU 0.2.x images)
The glog prefix of every replayed line names the real file:line that logs it.

What it does NOT do: load or run any model (file CONTENT is never parsed; an existing file
counts as a valid model), touch the network (the ModelScope download always fails), or
recognise speech: "recognition" is a loudness/variation heuristic that reports
"stand-in: N.N s of speech".

Environment:
  FUNASR_STANDIN_KIND=2pass|offline  which server (else from argv[0]: ...-2pass -> 2pass)
  FUNASR_STANDIN_LOAD_SECONDS        model load time after listen() (default 3)
  FUNASR_STANDIN_EXPORT_SECONDS      time the download tool's model export takes (default 5)
  FUNASR_STANDIN_GPU_BUILD=1         this is the GPU image's build (USE_GPU); CUDA exists only
                                     when NVIDIA_VISIBLE_DEVICES is set and not void/none
                                     (docker's nvidia device request sets it)
  FUNASR_STANDIN_FAIL=1              LAB-ONLY FAULT SWITCH, not a FunASR behaviour: accept
                                     connections but never answer (a broken release)
Runs on Debian's python3 with python3-websockets (>= 13), nothing else.
"""

import array
import asyncio
import datetime
import json
import math
import os
import re
import signal
import socket
import ssl
import sys
import time

# --------------------------------------------------------------------------- option tables

# (name, TCLAP type, default, where the real binary declares it)
OPTIONS_2PASS = (
    ("download-model-dir", "string", "/workspace/models", "funasr-wss-server-2pass.cpp:41-44"),
    ("model-dir", "string", "damo/speech_paraformer-large_asr_nat-zh-cn-16k-common-vocab8404-onnx",
     "funasr-wss-server-2pass.cpp:45-49"),
    ("online-model-dir", "string",
     "damo/speech_paraformer-large_asr_nat-zh-cn-16k-common-vocab8404-online-onnx",
     "funasr-wss-server-2pass.cpp:50-54"),
    ("offline-model-revision", "string", "v2.0.5", "funasr-wss-server-2pass.cpp:56-58"),
    ("online-model-revision", "string", "v2.0.5", "funasr-wss-server-2pass.cpp:60-62"),
    ("quantize", "string", "true", "funasr-wss-server-2pass.cpp:64-69"),
    ("vad-dir", "string", "damo/speech_fsmn_vad_zh-cn-16k-common-onnx", "funasr-wss-server-2pass.cpp:70-74"),
    ("vad-revision", "string", "v2.0.4", "funasr-wss-server-2pass.cpp:75-76"),
    ("vad-quant", "string", "true", "funasr-wss-server-2pass.cpp:77-81"),
    ("punc-dir", "string", "damo/punc_ct-transformer_zh-cn-common-vad_realtime-vocab272727-onnx",
     "funasr-wss-server-2pass.cpp:82-86"),
    ("punc-revision", "string", "v2.0.5", "funasr-wss-server-2pass.cpp:87-88"),
    ("punc-quant", "string", "true", "funasr-wss-server-2pass.cpp:89-94"),
    ("itn-dir", "string", "thuduj12/fst_itn_zh", "funasr-wss-server-2pass.cpp:95-99"),
    ("itn-revision", "string", "v1.0.1", "funasr-wss-server-2pass.cpp:100-101"),
    ("listen-ip", "string", "0.0.0.0", "funasr-wss-server-2pass.cpp:103-104"),
    ("port", "int", 10095, "funasr-wss-server-2pass.cpp:105"),
    ("io-thread-num", "int", 2, "funasr-wss-server-2pass.cpp:106-107"),
    ("decoder-thread-num", "int", 8, "funasr-wss-server-2pass.cpp:108-109"),
    ("model-thread-num", "int", 2, "funasr-wss-server-2pass.cpp:110-111"),
    ("certfile", "string", "../../../ssl_key/server.crt", "funasr-wss-server-2pass.cpp:113-117"),
    ("keyfile", "string", "../../../ssl_key/server.key", "funasr-wss-server-2pass.cpp:118-122"),
    ("global-beam", "float", 3.0, "funasr-wss-server-2pass.cpp:124"),
    ("lattice-beam", "float", 3.0, "funasr-wss-server-2pass.cpp:125"),
    ("am-scale", "float", 10.0, "funasr-wss-server-2pass.cpp:126"),
    ("lm-dir", "string", "damo/speech_ngram_lm_zh-cn-ai-wesp-fst", "funasr-wss-server-2pass.cpp:128-129"),
    ("lm-revision", "string", "v1.0.2", "funasr-wss-server-2pass.cpp:130-131"),
    ("hotword", "string", "/workspace/resources/hotwords.txt", "funasr-wss-server-2pass.cpp:132-134"),
    ("fst-inc-wts", "int", 20, "funasr-wss-server-2pass.cpp:135-136"),
)
OPTIONS_OFFLINE = (
    ("download-model-dir", "string", "/workspace/models", "funasr-wss-server.cpp:42-45"),
    ("model-dir", "string", "/workspace/models/asr", "funasr-wss-server.cpp:46-49"),
    ("model-revision", "string", "v2.0.5", "funasr-wss-server.cpp:50-53"),
    ("quantize", "string", "true", "funasr-wss-server.cpp:54-58"),
    ("bladedisc", "string", "true", "funasr-wss-server.cpp:59-62"),
    ("vad-dir", "string", "/workspace/models/vad", "funasr-wss-server.cpp:63-66"),
    ("vad-revision", "string", "v2.0.6", "funasr-wss-server.cpp:67-70"),
    ("vad-quant", "string", "true", "funasr-wss-server.cpp:71-75"),
    ("punc-dir", "string", "/workspace/models/punc", "funasr-wss-server.cpp:76-80"),
    ("punc-revision", "string", "v2.0.5", "funasr-wss-server.cpp:81-84"),
    ("punc-quant", "string", "true", "funasr-wss-server.cpp:85-89"),
    ("itn-dir", "string", "thuduj12/fst_itn_zh", "funasr-wss-server.cpp:90-94"),
    ("itn-revision", "string", "v1.0.1", "funasr-wss-server.cpp:95-96"),
    ("listen-ip", "string", "0.0.0.0", "funasr-wss-server.cpp:98-99"),
    ("port", "int", 10095, "funasr-wss-server.cpp:100"),
    ("io-thread-num", "int", 2, "funasr-wss-server.cpp:101-102"),
    ("decoder-thread-num", "int", 8, "funasr-wss-server.cpp:103-104"),
    ("model-thread-num", "int", 1, "funasr-wss-server.cpp:105-106"),
    ("certfile", "string", "../../../ssl_key/server.crt", "funasr-wss-server.cpp:108-110"),
    ("keyfile", "string", "../../../ssl_key/server.key", "funasr-wss-server.cpp:111-113"),
    ("global-beam", "float", 3.0, "funasr-wss-server.cpp:115"),
    ("lattice-beam", "float", 3.0, "funasr-wss-server.cpp:116"),
    ("am-scale", "float", 10.0, "funasr-wss-server.cpp:117"),
    ("lm-dir", "string", "damo/speech_ngram_lm_zh-cn-ai-wesp-fst", "funasr-wss-server.cpp:119-120"),
    ("lm-revision", "string", "v1.0.2", "funasr-wss-server.cpp:121-122"),
    ("hotword", "string", "/workspace/resources/hotwords.txt", "funasr-wss-server.cpp:123-125"),
    ("fst-inc-wts", "int", 20, "funasr-wss-server.cpp:126-127"),
    ("gpu", "switch", False, "funasr-wss-server.cpp:128 (TCLAP::SwitchArg: takes no value)"),
    ("batch-size", "int", 4, "funasr-wss-server.cpp:129"),
)
OPTION_TABLES = {"2pass": OPTIONS_2PASS, "offline": OPTIONS_OFFLINE}

# com-define.h file names
MODEL_NAME, QUANT_MODEL_NAME = "model.onnx", "model_quant.onnx"          # com-define.h:51,55
MODEL_EB_NAME, TORCH_MODEL_EB_NAME = "model_eb.onnx", "model_eb.torchscript"  # com-define.h:53-54
TORCH_MODEL_NAME, BLADE_MODEL_NAME = "model.torchscript", "model_blade.torchscript"  # :62,64
CMVN_NAME, CONFIG_NAME, TOKEN_PATH = "am.mvn", "config.yaml", "tokens.json"  # com-define.h:56-72
MODEL_SEG_DICT = "seg_dict"                                               # com-define.h:71
ITN_TAGGER_NAME, ITN_VERBALIZER_NAME = "zh_itn_tagger.fst", "zh_itn_verbalizer.fst"  # :77-78
DECODER_NAME, QUANT_DECODER_NAME = "decoder.onnx", "decoder_quant.onnx"  # com-define.h:82-83
LM_FST_RES, LEX_PATH = "TLG.fst", "lexicon.txt"                          # com-define.h:85-86
MODEL_SVS = "SenseVoiceSmall"                                            # com-define.h:40

FALSE_WORDS = ("false", "False", "FALSE")  # funasr-wss-server-2pass.cpp:241-242 and its copies
EN_MODEL = "speech_paraformer-large_asr_nat-en-16k-common-vocab10020"
FORCE_V205 = ("speech_paraformer-large-vad-punc_asr_nat-zh-cn-16k-common-vocab8404",
              "speech_paraformer-large-contextual_asr_nat-zh-cn-16k-common-vocab8404")

FRAME_SAMPLES = 160  # 10 ms at 16 kHz
VOICED_RMS = 200.0
MIN_VOICED_FRAMES = 30  # 300 ms
STANDIN = "funasr_standin.py"  # glog location of lines that are the stand-in's own


# --------------------------------------------------------------------------- logging

def glog_line(level, where, message, now=None):
    """A glog line as the real server writes it (FLAGS_logtostderr, funasr-wss-server*.cpp:35)."""
    now = now or datetime.datetime.now()
    return f"{level}{now:%Y%m%d %H:%M:%S.%f} {os.getpid():>7} {where}] {message}"


class Exit(Exception):
    """exit(status) of the real process."""

    def __init__(self, status):
        super().__init__(status)
        self.status = status


class Startup:
    """What a server start decided: replayable without sockets.

    + exit_code: None when the server runs, else its exit status (exit(-1) -> 255)
    + lines: ``(level, where, message)``; level "" is a raw line of the download tool
    + loaded: ``{role: bool}`` of vad, asr, online_asr (2pass), lm, punc, itn
    + hotword_path: "lm" (WFST decoder), "embedding" (model_eb), or None (hotwords inert)
    + ssl: wss or ws; hotwords: the hotword file's ``{phrase: weight}``
    """

    def __init__(self, kind, env, echo=None):
        self.kind, self.env, self.echo = kind, dict(env), echo
        self.exit_code = None
        self.lines = []
        self.options, self.given = {}, set()
        self.model_path = {}
        self.loaded = {}
        self.hotword_embedding = False
        self.hotwords = {}
        self.ssl = False
        self.tool_runs = []
        self.exports = []
        self.use_gpu = False

    @property
    def hotword_path(self):
        if self.loaded.get("lm"):
            return "lm"
        return "embedding" if self.hotword_embedding else None

    @property
    def hotwords_active(self):
        return self.hotword_path is not None

    @property
    def text(self):
        return "\n".join(message for _, _, message in self.lines)

    def log(self, level, where, message):
        self.lines.append((level, where, message))
        if self.echo:
            self.echo(glog_line(level, where, message) if level else message)

    def exit(self, status, where):
        raise Exit(status & 0xFF)


# --------------------------------------------------------------------------- TCLAP

class ParseError(Exception):
    """TCLAP's ArgException: ``argid`` ("" when undefined) and ``error``."""

    def __init__(self, error, argid=""):
        super().__init__(error)
        self.error, self.argid = error, argid


class HelpOrVersion(Exception):
    def __init__(self, text):
        super().__init__(text)
        self.text = text


_INT = re.compile(r"[+-]?\d+")
_FLOAT = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def tclap_extract(text, kind):
    """TCLAP's ExtractValue for ValueLike types (tclap/Arg.h:406-434): ``istringstream >>``
    until EOF; a failed read -> "Couldn't read ...", two reads -> "More than one ...".
    An empty string reads nothing and keeps the default (returns None)."""
    pattern, convert = (_INT, int) if kind == "int" else (_FLOAT, float)
    position, values, failed, value = 0, 0, False, None
    while position < len(text):  # is.good() and is.peek() != EOF
        while position < len(text) and text[position].isspace():
            position += 1
        match = pattern.match(text, position) if position < len(text) else None
        values += 1
        if not match:
            failed = True
            break
        value = convert(match.group())
        if kind == "int" and not -2**31 <= value < 2**31:  # operator>> overflow sets failbit
            failed = True
            break
        position = match.end()
    if failed:
        raise ParseError(f"Couldn't read argument value from string '{text}'")
    if values > 1:
        raise ParseError(f"More than one valid value parsed from string '{text}'")
    return value


def parse_options(kind, args, prog="funasr-wss-server"):
    """TCLAP CmdLine::parse (tclap/CmdLine.h:457-530) of ``args`` (without argv[0]).

    Returns ``(values, given)``: ``{name: typed value}`` and the names set on the command
    line (TCLAP's isSet()). Raises `ParseError` (the real binary prints it and exits 1) or
    `HelpOrVersion` (exit 0).

    - The CmdLine is built with delimiter ' ' (funasr-wss-server-2pass.cpp:40,
      funasr-wss-server.cpp:41), so ``--name value`` works as two argv elements or as ONE
      element "--name value" (tclap/Arg.h:611-627 trimFlag splits at the delimiter), and
      ``--name=value`` is NOT an option: "Couldn't find match for argument".
    - A value option takes the next element whatever it is, "" included
      (tclap/ValueArg.h:364-372); none left -> "Missing a value for this argument!".
    - An option given twice -> "Argument already set!" (tclap/ValueArg.h:350-358).
    - A switch (--gpu) matches only the exact element (tclap/SwitchArg.h:236).
    - "--" ignores the rest; -h/--help and --version print and exit 0 (tclap/CmdLine.h:379-396).
    """
    table = {name: (typ, default) for name, typ, default, _ in OPTION_TABLES[kind]}
    values = {name: default for name, (_, default) in table.items()}
    given = set()
    index = 0
    while index < len(args):
        arg = args[index]
        if arg == "--":
            break
        if arg in ("-h", "--help"):
            raise HelpOrVersion(usage(kind, prog))
        if arg == "--version":
            raise HelpOrVersion(f"\n{prog}  version: \n")
        flag, value = arg, None
        stop = arg.find(" ")
        if stop > 1:
            flag, value = arg[:stop], arg[stop + 1:]
        name = flag[2:] if flag.startswith("--") else None
        if name not in table or "\x07" in arg[1:]:
            raise ParseError("Couldn't find match for argument", arg)
        typ, _ = table[name]
        if typ == "switch":
            if value is not None:
                raise ParseError("Couldn't find match for argument", arg)
            if name in given:
                raise ParseError("Argument already set!", f"(--{name})")
            values[name] = True
            given.add(name)
            index += 1
            continue
        if name in given:
            raise ParseError("Argument already set!", f"(--{name})")
        if value is None or value == "":
            index += 1
            if index >= len(args):
                raise ParseError("Missing a value for this argument!", f"(--{name})")
            value = args[index]
        if typ == "string":
            values[name] = value
        else:
            try:
                parsed = tclap_extract(value, typ)
            except ParseError as error:  # tclap/ValueArg.h:405-411 adds the argument's id
                raise ParseError(error.error, f"(--{name})") from None
            if parsed is not None:
                values[name] = parsed
        given.add(name)
        index += 1
    return values, given


def usage(kind, prog):
    short = " ".join(f"[--{name}{'' if typ == 'switch' else f' <{typ}>'}]"
                     for name, typ, _, _ in OPTION_TABLES[kind])
    return f"\nUSAGE: \n\n   {prog}  {short} [--] [--version] [-h]\n"


def tclap_failure(error, prog, kind):
    """StdOutput::failure's text (tclap/StdOutput.h:132-154); the binary then exits 1."""
    argid = f"Argument: {error.argid}" if error.argid else " "
    return (f"PARSE ERROR: {argid}\n             {error.error}\n\nBrief USAGE: \n"
            f"{usage(kind, prog).splitlines()[3]}\n\nFor complete USAGE and HELP type: \n"
            f"   {prog} --help\n")


# --------------------------------------------------------------------------- environment

def server_kind(argv0, env):
    """'2pass' or 'offline': FUNASR_STANDIN_KIND, else the name the script runs as."""
    kind = env.get("FUNASR_STANDIN_KIND")
    if kind:
        return kind
    return "2pass" if os.path.basename(argv0).endswith("2pass") else "offline"


def gpu_build(env):
    """The GPU image's build (compiled with USE_GPU)."""
    return env.get("FUNASR_STANDIN_GPU_BUILD") == "1"


def cuda_available(env):
    """torch.cuda.is_available() / torch::cuda::is_available() in the stand-in: only the GPU
    build has CUDA, and only when docker's nvidia device request exposed GPUs."""
    devices = env.get("NVIDIA_VISIBLE_DEVICES", "")
    return gpu_build(env) and devices not in ("", "void", "none")


def _writable(path):
    """Whether the process may create files in ``path`` (a read-only bind mount says no,
    even to root). Tests replace this to simulate a read-only mount."""
    return os.access(path, os.W_OK)


def _creatable(path):
    """Whether a directory can be made or written at ``path``."""
    while path and not os.path.exists(path):
        parent = os.path.dirname(path.rstrip("/"))
        if parent == path:
            break
        path = parent
    return os.path.isdir(path or ".") and _writable(path or ".")


def path_append(directory, name):
    """util.cpp:76-91 PathAppend (an empty directory reads past the string: "/" + name)."""
    return directory + name if directory.endswith("/") else directory + "/" + name


def _exists(path):
    return os.access(path, os.F_OK)  # access(path, F_OK) == 0


def str2bool(value):
    """funasr/utils/type_utils.py str2bool: bool(strtobool(value))."""
    lowered = str(value).lower()
    if lowered in ("y", "yes", "t", "true", "on", "1"):
        return True
    if lowered in ("n", "no", "f", "false", "off", "0"):
        return False
    raise ValueError(f"invalid truth value {value!r}")


# --------------------------------------------------------------------------- download tool

PLACEHOLDER = b"funasr-fleet stand-in export: NOT a model\n"


def download_tool(st, role, model_name, export_dir, revision, model_type="onnx",
                  quantize="False", export=True):
    """The server's ``system("python -m funasr.download.runtime_sdk_download_tool ...")``:
    returns its exit status (0 = success). Replays runtime_sdk_download_tool.py.

    + role: the server role (for the export's extra files only)
    + quantize: the --quantize string the server passes (2pass: always "True",
      funasr-wss-server-2pass.cpp:210; offline: the --*quant value, funasr-wss-server.cpp:212)
    + export: False for ITN and LM ("--export False", funasr-wss-server-2pass.cpp:379,467)
    """
    run = {"role": role, "model_name": model_name, "export_dir": export_dir, "revision": revision,
           "type": model_type, "quantize": quantize, "export": export, "status": None}
    st.tool_runs.append(run)
    try:
        quantize_flag = str2bool(quantize)  # runtime_sdk_download_tool.py:16 type=str2bool
    except ValueError:
        st.log("", "", "usage: runtime_sdk_download_tool.py [-h] --model-name MODEL_NAME ...")
        st.log("", "", "runtime_sdk_download_tool.py: error: argument --quantize: invalid str2bool "
                       f"value: '{quantize}'")
        run["status"] = 2
        return 2
    model_dir = model_name
    if not os.path.exists(model_name):  # runtime_sdk_download_tool.py:25
        # runtime_sdk_download_tool.py:26-36: snapshot_download(model, cache_dir=export_dir,
        # revision=...); on any error it executes `raise "<str>"`, a TypeError. The stand-in
        # has no network (and a non-writable cache dir fails as well).
        reason = ("no network in the funasr-fleet stand-in" if _creatable(export_dir)
                  else f"[Errno 13] Permission denied: '{export_dir}'")
        st.log("", "", f"(stand-in) snapshot_download('{model_name}', cache_dir='{export_dir}', "
                       f"revision='{revision}') failed: {reason}")
        st.log("", "", "TypeError: exceptions must derive from BaseException")
        run["status"] = 1
        return 1
    if export:  # runtime_sdk_download_tool.py:37-55
        model_file = os.path.join(model_dir, QUANT_MODEL_NAME if quantize_flag else MODEL_NAME)
        if model_type == "torchscript":
            model_file = os.path.join(model_dir, TORCH_MODEL_NAME)
        elif model_type == "bladedisc":
            model_file = os.path.join(model_dir, BLADE_MODEL_NAME)
        if not os.path.exists(model_file):
            st.log("", "", "model is not exist, begin to export " + model_file)
            status = _export(st, role, model_dir, model_type, quantize_flag)
            run["status"] = status
            return status
    run["status"] = 0
    return 0


def _export(st, role, model_dir, model_type, quantize):
    """AutoModel(model=<dir>).export(quantize, type) (runtime_sdk_download_tool.py:49-55)."""
    missing = [name for name in ("config.yaml", "model.pt")
               if not os.path.exists(os.path.join(model_dir, name))]
    if missing:  # AutoModel builds the PyTorch model from config.yaml + model.pt (-pytorch repos)
        st.log("", "", f"(stand-in) AutoModel('{model_dir}') failed: no {' or '.join(missing)} "
                       "(only the -pytorch model repositories can be exported)")
        return 1
    if model_type == "bladedisc" and not cuda_available(st.env):
        # export_utils.py (cd4c6485e):30-33. "torchscript" falls back to the CPU
        # (export_utils.py:26-29, auto_model.py:181-185), so it needs no GPU to export.
        st.log("", "", "AssertionError: Currently bladedisc optimization for FunASR only supports GPU")
        return 1
    if not _writable(model_dir):  # the export writes into the model directory itself
        st.log("", "", f"PermissionError: [Errno 13] Permission denied: '{model_dir}'")
        return 1
    time.sleep(float(st.env.get("FUNASR_STANDIN_EXPORT_SECONDS", "5")))
    if model_type == "torchscript":
        names = [TORCH_MODEL_NAME]
    elif model_type == "bladedisc":
        names = [BLADE_MODEL_NAME]
    else:  # export_utils.py _onnx: <name>.onnx, plus <name>_quant.onnx when quantising
        stems = ["model", "decoder"] if role == "online_asr" else ["model"]
        names = [f"{stem}{suffix}.onnx" for stem in stems
                 for suffix in ([""] + (["_quant"] if quantize else []))]
    for name in names:
        path = os.path.join(model_dir, name)
        with open(path, "wb") as out:
            out.write(PLACEHOLDER)
        st.exports.append(path)
    return 0


# --------------------------------------------------------------------------- startup

FAILED_DOWNLOAD = ("Failed to download model from modelscope. If you set local {} model path, "
                   "you can ignore the errors.")


def _fetch_role(st, role, option, path, revision, checked, where, quantize, model_type="onnx",
                export=True, sep=": "):
    """One role's download step, shared by both binaries (funasr-wss-server-2pass.cpp:212-253
    and its copies): access() decides local vs ModelScope id; the tool runs either way; a
    failing tool only logs; then the checked file must exist or exit(-1)."""
    o = st.options
    if _exists(path):  # local (funasr-wss-server-2pass.cpp:217-222)
        export_dir, directory = "./", path
    else:  # ModelScope id (funasr-wss-server-2pass.cpp:223-234)
        st.log("I", where["download"], f"Download model: {path} from modelscope{sep}")
        export_dir, directory = o["download-model-dir"], o["download-model-dir"] + "/" + path
    status = download_tool(st, role, path, export_dir, revision, model_type, quantize, export)
    if status != 0:  # funasr-wss-server-2pass.cpp:236-239
        st.log("I", where["failed"], where["failed_text"])
    model = directory + "/" + checked(directory)
    if not _exists(model):  # funasr-wss-server-2pass.cpp:246-248
        st.log("E", where["missing"], f"{model} do not exists.")
        st.exit(-1, where["missing"])
    st.model_path[option] = directory  # funasr-wss-server-2pass.cpp:250-251
    st.log("I", where["set"], f"Set {option} : {directory}")


def _where(file, download, failed, missing, set_, role_text, failed_text=None):
    return {"download": f"{file}:{download}", "failed": f"{file}:{failed}",
            "missing": f"{file}:{missing}", "set": f"{file}:{set_}",
            "failed_text": failed_text or FAILED_DOWNLOAD.format(role_text)}


def _onnx_name(quant):
    return lambda directory: MODEL_NAME if quant in FALSE_WORDS else QUANT_MODEL_NAME


def _download_2pass(st):
    """funasr-wss-server-2pass.cpp:195-502: VAD, offline ASR, online ASR, LM, PUNC, ITN."""
    f, mp = "funasr-wss-server-2pass.cpp", st.model_path
    s_vad, s_asr, s_online = mp["vad-dir"], mp["model-dir"], mp["online-model-dir"]
    s_punc, s_itn, s_lm = mp["punc-dir"], mp["itn-dir"], mp["lm-dir"]
    quant = "True"  # python_cmd "--type onnx --quantize True" (funasr-wss-server-2pass.cpp:209-210)
    if s_vad:  # funasr-wss-server-2pass.cpp:212
        _fetch_role(st, "vad", "vad-dir", s_vad, mp["vad-revision"], _onnx_name(mp["vad-quant"]),
                    _where(f, 225, 238, 247, 251, "vad"), quant)
    else:
        st.log("I", f"{f}:255", "VAD model is not set, use default.")
    if s_asr:  # funasr-wss-server-2pass.cpp:258
        if any(name in s_asr for name in FORCE_V205):  # :263-271
            mp["offline-model-revision"] = "v2.0.5"
        if EN_MODEL in s_asr:  # :273-278
            mp["model-revision"] = "v2.0.5"
            s_itn, s_lm = "", ""
        if MODEL_SVS in s_asr:  # :279-284
            mp["model-revision"] = "v2.0.5"
            s_lm, mp["lm-dir"] = "", ""
        _fetch_role(st, "asr", "model-dir", s_asr, mp["offline-model-revision"],
                    _onnx_name(mp["quantize"]), _where(f, 295, 307, 316, 320, "asr"), quant, sep=" : ")
    else:
        st.log("I", f"{f}:323", "ASR Offline model is not set, use default.")
    if s_online:  # funasr-wss-server-2pass.cpp:326 (note the two spaces in its failure line, :351)
        _fetch_role(st, "online_asr", "online-model-dir", s_online, mp["online-model-revision"],
                    _onnx_name(mp["quantize"]),
                    _where(f, 339, 351, 360, 364, "", "Failed to download model from modelscope. If "
                           "you set local asr model path,  you can ignore the errors."), quant, sep=" : ")
    else:
        st.log("I", f"{f}:367", "ASR online model is not set, use default.")
    if s_lm and s_lm not in ("NONE", "none"):  # funasr-wss-server-2pass.cpp:370
        _fetch_role(st, "lm", "lm-dir", s_lm, mp["lm-revision"], lambda d: LM_FST_RES,
                    _where(f, 383, 397, 402, 406, "lm"), quant, export=False, sep=" : ")
    else:
        st.log("I", f"{f}:409", "LM model is not set, not executed.")
        mp["lm-dir"] = ""  # :410
    if s_punc:  # funasr-wss-server-2pass.cpp:413
        _fetch_role(st, "punc", "punc-dir", s_punc, mp["punc-revision"], _onnx_name(mp["punc-quant"]),
                    _where(f, 426, 439, 448, 452, "punc"), quant, sep=" : ")
    else:
        st.log("I", f"{f}:455", "PUNC model is not set, use default.")
    if s_itn:  # funasr-wss-server-2pass.cpp:458
        _fetch_role(st, "itn", "itn-dir", s_itn, mp["itn-revision"], lambda d: ITN_TAGGER_NAME,
                    _where(f, 471, 485, 490, 494, "itn"), quant, export=False, sep=" : ")
    else:
        st.log("I", f"{f}:497", "ITN model is not set, use default.")


def _download_offline(st):
    """funasr-wss-server.cpp:189-445: VAD, ASR, ITN, LM, PUNC. VAD/ASR/PUNC also need isSet()
    (a default path is never checked here; the loader still looks at it later)."""
    f, mp, given = "funasr-wss-server.cpp", st.model_path, st.given
    s_vad, s_asr, s_punc = mp["vad-dir"], mp["model-dir"], mp["punc-dir"]
    s_itn, s_lm, s_blade = mp["itn-dir"], mp["lm-dir"], mp["bladedisc"]
    if "vad-dir" in given and s_vad:  # funasr-wss-server.cpp:205
        _fetch_role(st, "vad", "vad-dir", s_vad, mp["vad-revision"], _onnx_name(mp["vad-quant"]),
                    _where(f, 216, 223, 231, 235, "vad"), mp["vad-quant"])
    else:
        st.log("I", f"{f}:238", "VAD model is not set, use default.")
    if "model-dir" in given and s_asr:  # funasr-wss-server.cpp:241
        model_type = "onnx"
        if any(name in s_asr for name in FORCE_V205):  # :248-256
            mp["model-revision"] = "v2.0.5"
        if EN_MODEL in s_asr:  # :258-263
            mp["model-revision"] = "v2.0.5"
            s_itn, s_lm = "", ""
        if MODEL_SVS in s_asr:  # :265-274
            mp["model-revision"] = "v2.0.5"
            s_itn = s_lm = s_punc = mp["itn-dir"] = mp["lm-dir"] = mp["punc-dir"] = ""
        blade = s_blade in ("true", "True", "TRUE")
        if st.use_gpu:  # :276-281
            model_type = "bladedisc" if blade else "torchscript"

        def checked(directory):  # :294-304
            if st.use_gpu:
                return BLADE_MODEL_NAME if blade else TORCH_MODEL_NAME
            return _onnx_name(mp["quantize"])(directory)
        _fetch_role(st, "asr", "model-dir", s_asr, mp["model-revision"], checked,
                    _where(f, 289, 308, 312, 316, "asr"), mp["quantize"], model_type)
    else:
        st.log("I", f"{f}:319", "ASR model is not set, use default.")
    if s_itn:  # funasr-wss-server.cpp:322 (no --quantize: the tool's default False)
        _fetch_role(st, "itn", "itn-dir", s_itn, mp["itn-revision"], lambda d: ITN_TAGGER_NAME,
                    _where(f, 335, 349, 354, 358, "itn"), "False", export=False, sep=" : ")
    else:
        st.log("I", f"{f}:361", "ITN model is not set, not executed.")
    if s_lm and s_lm not in ("NONE", "none"):  # funasr-wss-server.cpp:364
        _fetch_role(st, "lm", "lm-dir", s_lm, mp["lm-revision"], lambda d: LM_FST_RES,
                    _where(f, 377, 391, 396, 400, "lm"), "False", export=False, sep=" : ")
    else:
        st.log("I", f"{f}:403", "LM model is not set, not executed.")
        mp["lm-dir"] = ""  # :404
    if "punc-dir" in given and s_punc:  # funasr-wss-server.cpp:407
        _fetch_role(st, "punc", "punc-dir", s_punc, mp["punc-revision"], _onnx_name(mp["punc-quant"]),
                    _where(f, 418, 425, 433, 437, "punc"), mp["punc-quant"])
    else:
        st.log("I", f"{f}:440", "PUNC model is not set, use default.")


# Keys GetValue() puts into model_path, in order (funasr-wss-server-2pass.cpp:173-189,
# funasr-wss-server.cpp:166-181); each logs "<key> : <value>" (GetValue, line 25 of both).
MODEL_PATH_KEYS = {
    "2pass": ("model-dir", "online-model-dir", "quantize", "vad-dir", "vad-quant", "punc-dir",
              "punc-quant", "itn-dir", "lm-dir", "hotword", "offline-model-revision",
              "online-model-revision", "vad-revision", "punc-revision", "itn-revision", "lm-revision"),
    "offline": ("model-dir", "quantize", "bladedisc", "vad-dir", "vad-quant", "punc-dir",
                "punc-quant", "itn-dir", "lm-dir", "hotword", "model-revision", "vad-revision",
                "punc-revision", "itn-revision", "lm-revision"),
}
MAIN = {"2pass": "funasr-wss-server-2pass.cpp", "offline": "funasr-wss-server.cpp"}


def prepare(kind, argv, env, echo=None):
    """Everything the real main() does before listen(): parse, download step per role,
    hotword file, ssl decision. Returns a `Startup` (exit_code set when it exits)."""
    st = Startup(kind, env, echo)
    prog = argv[0] if argv else "funasr-wss-server"
    try:
        try:
            st.options, st.given = parse_options(kind, list(argv[1:]), prog)
        except ParseError as error:  # tclap/StdOutput.h:132-154, exit(1) at tclap/CmdLine.h:528
            for line in tclap_failure(error, prog, kind).splitlines():
                st.log("", "", line)
            raise Exit(1)
        except HelpOrVersion as shown:
            for line in shown.text.splitlines():
                st.log("", "", line)
            raise Exit(0)
        main = MAIN[kind]
        st.log("I", STANDIN, f"funasr-fleet STAND-IN for the FunASR {kind} server "
                             "(NOT FunASR: replays its decisions, recognises nothing)")
        for key in MODEL_PATH_KEYS[kind]:
            st.model_path.setdefault(key, st.options[key])
            st.log("I", f"{main}:25", f"{key} : {st.options[key]}")
        st.use_gpu = bool(st.options.get("gpu"))  # funasr-wss-server.cpp:186
        (_download_2pass if kind == "2pass" else _download_offline)(st)
        # hotword file (funasr-wss-server-2pass.cpp:519-524, funasr-wss-server.cpp:462-467)
        line = 523 if kind == "2pass" else 466
        st.log("I", f"{main}:{line}", f"hotword path: {st.model_path['hotword']}")
        st.hotwords = extract_hws(st, st.model_path["hotword"])
        # wss only with a non-empty cert path that exists (funasr-wss-server-2pass.cpp:526-529)
        cert = st.options["certfile"]
        st.ssl = bool(cert) and _exists(cert)
        line = (545, 555) if kind == "2pass" else (488, 497)
        st.log("I", f"{main}:{line[0] if st.ssl else line[1]}",
               "SSL is opened!" if st.ssl else "SSL is closed!")
    except Exit as done:
        st.exit_code = done.status
    return st


def extract_hws(st, path):
    """util.cpp:1001-1046 ExtractHws: ``phrase... score`` lines; score by std::stof, stored
    as int; lines without a score are skipped; an unparsable score logs e.what()."""
    hotwords = {}
    if not path:  # util.cpp:1003
        return hotwords
    try:
        with open(path, "rb") as handle:
            raw = handle.read().decode("utf-8", "replace")
    except OSError:
        st.log("E", "util.cpp:1009", f"Unable to open hotwords file: {path}. If you have not set "
                                    "hotwords, please ignore this message.")
        return hotwords
    st.log("I", "util.cpp:1013", "hotwords: ")
    for line in raw.split("\n"):
        line = line.strip(" \t\n\r\f\v")  # Trim
        if not line:
            continue
        text = [part for part in line.split(" ") if part]  # SplitStringToVector(" ", omit empty)
        if len(text) <= 1:
            continue
        match = re.match(r"\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", text[-1])
        if not match:  # std::stof throws std::invalid_argument("stof")
            st.log("E", "util.cpp:1028", "stof")
            continue
        score = float(match.group())
        hotword = " ".join(text[:-1])
        st.log("I", "util.cpp:1042", f"{hotword} : {score:g}")
        hotwords.setdefault(hotword, int(score))  # emplace into unordered_map<string, int>
    return hotwords


# --------------------------------------------------------------------------- model loading

def _ort_error(path):
    return (f"Load model from {path} failed:Load model {path} failed. File doesn't exist"
            if not _exists(path) else "")


def _ort_load(st, path, ok_where, err_where, err_text):
    """Ort::Session(path): "Successfully load model from" or the ERROR line and exit(-1)."""
    if not _exists(path):
        st.log("E", err_where, f"{err_text}: {_ort_error(path)}")
        st.exit(-1, err_where)
    st.log("I", ok_where, f"Successfully load model from {path}")


def _vocab(st, path, where):
    """vocab.cpp:46-55 / phone-set.cpp: tokens.json missing -> LOG(INFO) and exit(-1)."""
    if not _exists(path):
        st.log("I", where, "Error loading token file, token file error or not exist.")
        st.exit(-1, where)


def _yaml(st, path, where, level="E"):
    if not _exists(path):
        st.log(level, where, "Error loading file, yaml file error or not exist.")
        st.exit(-1, where)


def _cmvn(st, path, where):
    if not _exists(path):
        st.log("E", where, f"Failed to open file: {path}")
        st.exit(-1, where)


def _load_vad(st, stream):
    """tpass-stream.cpp:6-28 / offline-stream.cpp:6-28."""
    mp = st.model_path
    directory = mp["vad-dir"]
    model = path_append(directory, QUANT_MODEL_NAME if mp["vad-quant"] == "true" else MODEL_NAME)
    files = (model, path_append(directory, CMVN_NAME), path_append(directory, CONFIG_NAME))
    if not all(_exists(path) for path in files):
        st.log("I", f"{stream}:22", "VAD model file is not exist, skip load vad model.")
        st.loaded["vad"] = False
        return
    st.log("I", "fsmn-vad.cpp:58", f"Successfully load model from {model}")
    st.loaded["vad"] = True


def _load_lm(st, stream, lines):
    """tpass-stream.cpp:80-92 / offline-stream.cpp:92-104, paraformer.cpp:152-168 InitLm."""
    directory = st.model_path.get("lm-dir", "")
    st.loaded["lm"] = False
    if not directory:
        return
    fst, config, lex = (path_append(directory, name) for name in (LM_FST_RES, CONFIG_NAME, LEX_PATH))
    if not _exists(lex):
        st.log("E", f"{stream}:{lines[0]}", "Lexicon.txt file is not exist, please use the latest "
                                            "version. Skip load LM model.")
        return
    if not _exists(fst):  # fst::Fst::Read returns null (paraformer.cpp:161-163): LM off
        st.log("E", "paraformer.cpp:162", f"Failed to load lm file {fst}")
        return
    _yaml(st, config, "vocab.cpp:34", level="I")  # Vocab(cfg, lex) -> LoadVocabFromYaml exit(-1)
    st.log("I", "paraformer.cpp:160", f"Successfully load lm file {fst}")
    st.loaded["lm"] = True


def _load_punc(st, stream, lines, loader):
    directory = st.model_path["punc-dir"]
    model = path_append(directory, QUANT_MODEL_NAME if st.model_path["punc-quant"] == "true" else MODEL_NAME)
    files = (model, path_append(directory, CONFIG_NAME), path_append(directory, TOKEN_PATH))
    if not all(_exists(path) for path in files):
        st.log("I", f"{stream}:{lines}", "PUNC model file is not exist, skip load punc model.")
        st.loaded["punc"] = False
        return
    st.log("I", f"{loader}:21", f"Successfully load model from {model}")
    st.loaded["punc"] = True


def _load_itn(st, stream, line):
    directory = st.model_path["itn-dir"]
    tagger, verbalizer = path_append(directory, ITN_TAGGER_NAME), path_append(directory, ITN_VERBALIZER_NAME)
    if not (_exists(tagger) and _exists(verbalizer)):
        st.log("I", f"{stream}:{line}", "ITN model file is not exist, skip load ITN model.")
        st.loaded["itn"] = False
        return
    st.log("I", "itn-processor.cpp:33", f"Successfully load model from {tagger}")
    st.log("I", "itn-processor.cpp:35", f"Successfully load model from {verbalizer}")
    st.loaded["itn"] = True


def _init_hw_compiler(st, path, torch=False):
    """paraformer.cpp:235-247 / paraformer-torch.cpp:109-133 InitHwCompiler."""
    if torch:
        if not cuda_available(st.env):  # paraformer-torch.cpp:113-115: exit(-1), no log line
            st.exit(-1, "paraformer-torch.cpp:115")
        if path.endswith(".onnx"):  # torch::jit::load of an ONNX file throws
            st.log("E", "paraformer-torch.cpp:129",
                   f"Error when load hw model: {path}PytorchStreamReader failed reading zip archive")
            st.exit(-1, "paraformer-torch.cpp:130")
        st.log("I", "paraformer-torch.cpp:125", f"Successfully load model from {path}")
    else:
        st.log("I", "paraformer.cpp:243", f"Successfully load model from {path}")
    st.hotword_embedding = True


def _init_seg_dict(st, path):
    """seg_dict.cpp:16-38."""
    if _exists(path):
        st.log("I", "seg_dict.cpp:37", "load seg dict successfully")
    else:
        st.log("E", "seg_dict.cpp:23", f"{path} open failed !!")


def _load_2pass(st):
    """TpassStream (tpass-stream.cpp:4-136): VAD, hotword embedding, 2pass ASR, LM, PUNC, ITN."""
    s, mp = "tpass-stream.cpp", st.model_path
    _load_vad(st, s)
    asr_dir, online_dir = mp["model-dir"], mp["online-model-dir"]
    eb, seg = path_append(asr_dir, MODEL_EB_NAME), path_append(asr_dir, MODEL_SEG_DICT)
    if _exists(eb) and _exists(seg):  # tpass-stream.cpp:54-59: BOTH files switch it on
        _init_hw_compiler(st, eb)
        _init_seg_dict(st, seg)
    quant = mp["quantize"] == "true"  # tpass-stream.cpp:65 (exactly "true", unlike the pre-check)
    am = path_append(asr_dir, QUANT_MODEL_NAME if quant else MODEL_NAME)
    encoder = path_append(online_dir, QUANT_MODEL_NAME if quant else MODEL_NAME)
    decoder = path_append(online_dir, QUANT_DECODER_NAME if quant else DECODER_NAME)
    # Paraformer::InitAsr 2pass (paraformer.cpp:134-150) -> online InitAsr (paraformer.cpp:56-131)
    _yaml(st, path_append(online_dir, CONFIG_NAME), "paraformer.cpp:200")
    _ort_load(st, encoder, "paraformer.cpp:77", "paraformer.cpp:79", "Error when load am encoder model")
    _ort_load(st, decoder, "paraformer.cpp:85", "paraformer.cpp:87", "Error when load am decoder model")
    _vocab(st, path_append(online_dir, TOKEN_PATH), "vocab.cpp:53")  # online tokens (tpass-stream.cpp:64)
    _cmvn(st, path_append(online_dir, CMVN_NAME), "paraformer.cpp:318")
    _ort_load(st, am, "paraformer.cpp:142", "paraformer.cpp:144", "Error when load am onnx model")
    st.loaded["asr"] = st.loaded["online_asr"] = True
    _load_lm(st, s, (88,))
    _load_punc(st, s, 111, "ct-transformer-online.cpp")
    _load_itn(st, s, 127)  # tpass-stream.cpp:120: no != "" test, unlike offline-stream.cpp:132


def _load_offline(st):
    """OfflineStream (offline-stream.cpp:4-151): VAD, hotword embedding, ASR, LM, PUNC, ITN.
    model_path holds every role's option value (GetValue), so a role the download step
    skipped is still looked for at its default path here."""
    s, mp = "offline-stream.cpp", st.model_path
    _load_vad(st, s)
    use_gpu, torch = st.use_gpu, False
    if use_gpu:
        if gpu_build(st.env):  # offline-stream.cpp:41-43 ParaformerTorch
            torch = True
        else:  # offline-stream.cpp:44-48
            st.log("E", f"{s}:45", "GPU is not supported! CPU will be used! If you want to use GPU, "
                                   "please add -DGPU=ON when cmake")
            use_gpu = False
    asr_dir = mp["model-dir"]
    eb = path_append(asr_dir, MODEL_EB_NAME)
    eb_torch = path_append(asr_dir, TORCH_MODEL_EB_NAME)
    seg = path_append(asr_dir, MODEL_SEG_DICT)
    if _exists(eb):  # offline-stream.cpp:63-67: model_eb.onnx alone switches it on
        _init_hw_compiler(st, eb, torch)
        _init_seg_dict(st, seg)
    if use_gpu and _exists(eb_torch):  # offline-stream.cpp:68-72
        _init_hw_compiler(st, eb_torch, torch)
        _init_seg_dict(st, seg)
    am = path_append(asr_dir, QUANT_MODEL_NAME if mp["quantize"] == "true" else MODEL_NAME)
    if use_gpu:  # offline-stream.cpp:78-83
        am = path_append(asr_dir, BLADE_MODEL_NAME if mp["bladedisc"] == "true" else TORCH_MODEL_NAME)
    if torch:  # ParaformerTorch::InitAsr (paraformer-torch.cpp:19-65)
        _yaml(st, path_append(asr_dir, CONFIG_NAME), "paraformer-torch.cpp:91")
        _vocab(st, path_append(asr_dir, TOKEN_PATH), "vocab.cpp:53")
        _cmvn(st, path_append(asr_dir, CMVN_NAME), "paraformer-torch.cpp:LoadCmvn")
        if not cuda_available(st.env):
            st.log("E", "paraformer-torch.cpp:38", "CUDA is not available! Please check your GPU settings")
            st.exit(-1, "paraformer-torch.cpp:39")
        st.log("I", "paraformer-torch.cpp:41", "CUDA is available, running on GPU")
        if not _exists(am):
            st.log("E", "paraformer-torch.cpp:62", f"Error when load am model: {am}open file failed "
                                                   "because of errno 2 on fopen: No such file or directory")
            st.exit(-1, "paraformer-torch.cpp:63")
        st.log("I", "paraformer-torch.cpp:52", f"Successfully load model from {am}")
    else:  # Paraformer::InitAsr offline (paraformer.cpp:21-53)
        _yaml(st, path_append(asr_dir, CONFIG_NAME), "paraformer.cpp:176")
        _ort_load(st, am, "paraformer.cpp:42", "paraformer.cpp:44", "Error when load am onnx model")
        _vocab(st, path_append(asr_dir, TOKEN_PATH), "vocab.cpp:53")
        _cmvn(st, path_append(asr_dir, CMVN_NAME), "paraformer.cpp:318")
    st.loaded["asr"] = True
    _load_lm(st, s, (100,))
    _load_punc(st, s, 123, "ct-transformer.cpp")
    if mp.get("itn-dir", ""):  # offline-stream.cpp:132
        _load_itn(st, s, 139)
    else:
        st.loaded["itn"] = False


def load_models(st):
    """WebSocketServer::initAsr (websocket-server-2pass.cpp:588-604, websocket-server.cpp:417-433)
    and the lines main() logs after it (funasr-wss-server-2pass.cpp:571-574)."""
    if st.exit_code is not None:
        return st
    try:
        if st.kind == "2pass":
            _load_2pass(st)
        else:
            _load_offline(st)
            st.log("I", "websocket-server.cpp:423", "model successfully inited")
        main, base = MAIN[st.kind], (571 if st.kind == "2pass" else 513)
        st.log("I", f"{main}:{base}", f"decoder-thread-num: {st.options['decoder-thread-num']}")
        st.log("I", f"{main}:{base + 1}", f"io-thread-num: {st.options['io-thread-num']}")
        st.log("I", f"{main}:{base + 2}", f"model-thread-num: {st.options['model-thread-num']}")
        st.log("I", f"{main}:{base + 3}", f"asr model init finished. listen on port:{st.options['port']}")
    except Exit as done:
        st.exit_code = done.status
    return st


def startup(kind, argv, env, echo=None):
    """The whole start, without sockets: `prepare` then `load_models`.

    + kind: "2pass" or "offline"
    + argv: the command line including argv[0]
    + env: environment dict (FUNASR_STANDIN_GPU_BUILD, NVIDIA_VISIBLE_DEVICES,
      FUNASR_STANDIN_EXPORT_SECONDS)
    """
    return load_models(prepare(kind, argv, env, echo))


# --------------------------------------------------------------------------- "recognition"

def frame_features(pcm):
    """(rms, zero-crossing rate) per 10 ms frame of 16-bit little-endian PCM."""
    samples = array.array("h")
    samples.frombytes(pcm[: len(pcm) - len(pcm) % 2])
    if sys.byteorder == "big":
        samples.byteswap()
    features = []
    for start in range(0, len(samples) - FRAME_SAMPLES + 1, FRAME_SAMPLES):
        frame = samples[start:start + FRAME_SAMPLES]
        rms = math.sqrt(sum(value * value for value in frame) / FRAME_SAMPLES)
        crossings = sum(1 for a, b in zip(frame, frame[1:]) if (a < 0) != (b < 0))
        features.append((rms, crossings / FRAME_SAMPLES))
    return features


def _spread(values):
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / len(values)) / (mean or 1.0)


def speech_seconds(features):
    """Seconds of speech-like audio: loud frames whose loudness and pitch vary.

    Silence fails the loudness test; a steady tone or steady noise fails the variation
    test (speech's frame energy and zero-crossing rate move a lot; a tone's do not).
    """
    voiced = [(rms, zcr) for rms, zcr in features if rms >= VOICED_RMS]
    if len(voiced) < MIN_VOICED_FRAMES:
        return 0.0
    if _spread([rms for rms, _ in features]) < 0.3 or _spread([zcr for _, zcr in voiced]) < 0.15:
        return 0.0
    return len(voiced) * FRAME_SAMPLES / 16000


def transcript(seconds, hotwords=()):
    """The stand-in's "recognised" text; the hotword suffix only when hotwords act."""
    text = f"stand-in: {seconds:.1f} s of speech"
    if hotwords:
        text += f" [hotwords: {', '.join(sorted(hotwords))}]"
    return text


def merge_hotwords(client, server_hws):
    """websocket-server-2pass.cpp:417-461: the client's "hotwords" (a JSON object in a
    string: FST map; anything else unparsable: nn hotwords, space separated) merged with
    the server file's map (the client's weight wins: unordered_map::insert)."""
    merged, nn = {}, []
    if isinstance(client, str) and client:
        try:
            parsed = json.loads(client)
            if isinstance(parsed, dict):
                merged.update({key: value for key, value in parsed.items()
                               if isinstance(value, (int, float)) and not isinstance(value, bool)})
        except ValueError:
            nn = [word for word in client.split(" ") if word]
    for phrase, weight in server_hws.items():
        merged.setdefault(phrase, weight)
    return merged, nn


def _dump(message):
    """nlohmann::json::dump(): object keys sorted (std::map), compact, UTF-8 as is."""
    return json.dumps(message, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


class Connection:
    """FUNASR_MESSAGE of one connection (websocket-server-2pass.cpp:240-270 on_open)."""

    def __init__(self):
        self.msg = {"wav_format": "pcm", "wav_name": "wav-default-id", "mode": "2pass", "itn": True,
                    "audio_fs": 16000, "is_eof": False}
        self.samples = bytearray()     # received, not yet decoded
        self.decoded = bytearray()     # PCM the online stream has seen in this utterance
        self.partials_sent = 0
        self.online_handle = False
        self.hotwords = None           # merged hotwords once compiled (None: not yet)


class Server:
    """The protocol of both servers over a `Startup` that started."""

    def __init__(self, st, fail=False):
        self.st, self.fail = st, fail

    def log(self, level, where, message):
        print(glog_line(level, where, message), file=sys.stderr, flush=True)

    def active_hotwords(self, conn):
        if not self.st.hotwords_active or not conn.hotwords:
            return ()
        merged, nn = conn.hotwords
        return list(merged) + [word for word in nn if word not in merged]

    async def handle(self, websocket):
        conn = Connection()
        async for payload in websocket:
            if conn.msg["is_eof"]:
                continue
            replies = (self.on_text_2pass if self.st.kind == "2pass" else self.on_text_offline)(
                conn, payload) if isinstance(payload, str) else self.on_binary(conn, payload)
            for reply in replies:
                if not self.fail:
                    await websocket.send(_dump(reply))
                else:
                    self.log("W", STANDIN, "FUNASR_STANDIN_FAIL=1: not answering (LAB-ONLY fault "
                                           "switch: a broken release)")

    def _header(self, conn, data, where):
        if conn.hotwords is None:  # websocket-server-2pass.cpp:418-461
            conn.hotwords = merge_hotwords(data.get("hotwords"), self.st.hotwords)
            self.log("I", f"{where}:450", "hotwords: ")
            for phrase, weight in conn.hotwords[0].items():
                self.log("I", f"{where}:453", f"{phrase} : {weight}")

    def on_text_2pass(self, conn, payload):
        """websocket-server-2pass.cpp:395-525."""
        w = "websocket-server-2pass.cpp"
        try:
            data = json.loads(payload)
            if not isinstance(data, dict):
                raise ValueError("not an object")
        except ValueError as error:  # :399-405
            self.log("E", f"{w}:401", str(error))
            conn.msg["is_eof"] = True
            return []
        for key in ("wav_name", "mode", "wav_format"):  # :407-416
            if key in data:
                conn.msg[key] = data[key]
        self._header(conn, data, w)
        if "audio_fs" in data:
            conn.msg["audio_fs"] = data["audio_fs"]
        if "chunk_size" in data and not conn.online_handle:  # :466-480
            chunk = data["chunk_size"]
            if isinstance(chunk, list) and len(chunk) == 3 and chunk[1] != 0:
                if not self.st.loaded.get("vad"):  # tpass-online-stream.cpp:6-11
                    self.log("E", "tpass-online-stream.cpp:9", "vad_handle is null")
                    sys.stderr.flush()
                    os._exit(255)  # exit(-1): the whole server ends
                conn.online_handle = True
            else:
                self.log("E", f"{w}:476", "Wrong chunk_size!")
                return []  # break: not even the end-of-input check below
        if "itn" in data:
            conn.msg["itn"] = data["itn"]
        if data.get("is_speaking") is False or data.get("is_finished") is True:  # :492-523
            self.log("I", f"{w}:496", "client done")
            pcm, conn.samples = bytes(conn.samples), bytearray()
            return self.decode_2pass(conn, pcm, final=True)
        return []

    def on_binary(self, conn, payload):
        if self.st.kind != "2pass":  # websocket-server.cpp:396-408: collect until the end
            conn.samples += payload
            return []
        conn.samples += payload  # websocket-server-2pass.cpp:526-574
        step = 800 * 2
        if len(conn.samples) <= step:
            return []
        count = len(conn.samples) // step * step
        chunk, conn.samples = bytes(conn.samples[:count]), conn.samples[count:]
        if conn.hotwords is None:  # :549: nothing decodes before the first text message
            return []
        return self.decode_2pass(conn, chunk, final=False)

    def decode_2pass(self, conn, pcm, final):
        """do_decoder (websocket-server-2pass.cpp:100-238) + FunTpassInferBuffer
        (funasrruntime.cpp:482-520)."""
        if not conn.online_handle:  # :118-123
            self.log("I", "websocket-server-2pass.cpp:120", "tpass_online_handle  is free, return")
            return []
        if not self.st.loaded.get("punc"):  # funasrruntime.cpp:508-510: no Result, ever
            return []
        if conn.msg["wav_format"] not in ("pcm", "PCM"):  # funasrruntime.cpp:512-520
            self.log("E", "funasrruntime.cpp:518", f"Wrong wav_format: {conn.msg['wav_format']}")
            if final:  # websocket-server-2pass.cpp:214-228
                return [{"text": "ERROR. Real-time transcription service ONLY SUPPORT PCM stream.",
                         "wav_name": conn.msg["wav_name"], "is_final": True}]
            return []
        conn.decoded += pcm
        replies = []
        mode = conn.msg["mode"]
        if not final:
            # partials: online text only in modes online/2pass (funasrruntime.cpp:530-550);
            # sent only when text is non-empty (websocket-server-2pass.cpp:159-173).
            due = len(conn.decoded) // (16000 * 2 * 6 // 10)
            if mode in ("2pass", "online") and due > conn.partials_sent:
                conn.partials_sent = due
                seconds = speech_seconds(frame_features(bytes(conn.decoded)))
                if seconds:
                    replies.append({"text": transcript(seconds), "mode": "2pass-online",
                                    "wav_name": conn.msg["wav_name"], "is_final": False})
            return replies
        seconds = speech_seconds(frame_features(bytes(conn.decoded)))
        conn.decoded, conn.partials_sent = bytearray(), 0
        result = {"text": "", "wav_name": conn.msg["wav_name"], "is_final": True}  # handle_result :60-98
        if seconds:
            end = int(seconds * 1000)
            text = transcript(seconds, self.active_hotwords(conn))
            result.update({"text": text, "mode": "2pass-offline", "timestamp": f"[[0,{end}]]",
                           "stamp_sents": [{"end": end, "punc": "", "start": 0, "text_seg": text,
                                            "ts_list": [[0, end]]}]})
        return [result]  # :201-213: the final is sent whenever a Result exists

    def on_text_offline(self, conn, payload):
        """websocket-server.cpp:295-395 and do_decoder :61-152."""
        w = "websocket-server.cpp"
        try:
            data = json.loads(payload)
            if not isinstance(data, dict):
                raise ValueError("not an object")
        except ValueError as error:
            self.log("E", f"{w}:301", str(error))
            conn.msg["is_eof"] = True
            return []
        for key in ("wav_name", "wav_format"):
            if data.get(key) is not None:
                conn.msg[key] = data[key]
        if conn.hotwords is None:
            conn.hotwords = merge_hotwords(data.get("hotwords"), self.st.hotwords)
            self.log("I", f"{w}:347", "hotwords: ")
            for phrase, weight in conn.hotwords[0].items():
                self.log("I", f"{w}:350", f"{phrase} : {weight}")
        if data.get("is_speaking") is False or data.get("is_finished") is True:  # :371-393
            self.log("I", f"{w}:375", "client done")
            pcm, conn.samples = bytes(conn.samples), bytearray()
            if not pcm:  # :128-145 "Sent empty msg"
                self.log("I", f"{w}:129", "Sent empty msg")
                return [{"text": "", "mode": "offline", "is_final": False,
                         "wav_name": conn.msg["wav_name"]}]
            seconds = speech_seconds(frame_features(pcm))
            result = {"text": "", "mode": "offline", "is_final": False, "wav_name": conn.msg["wav_name"]}
            if seconds:  # :98-116: timestamp only when there is one
                result["text"] = transcript(seconds, self.active_hotwords(conn))
                result["timestamp"] = f"[[0,{int(seconds * 1000)}]]"
            return [result]
        return []


# --------------------------------------------------------------------------- process

def listening_socket(address, port):
    """listen() before the models load (funasr-wss-server-2pass.cpp:544-569, initAsr at :569)."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # set_reuse_addr(true)
    sock.bind((address, port))
    sock.listen(128)
    return sock


def tls_context(options):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(options["certfile"], options["keyfile"])
    return context


async def serve_forever(st, sock, env):
    from websockets.asyncio.server import serve

    server = Server(st, fail=env.get("FUNASR_STANDIN_FAIL") == "1")
    # The real server selects no subprotocol and does not compress (websocketpp defaults).
    async with serve(server.handle, sock=sock, ssl=tls_context(st.options) if st.ssl else None,
                     max_size=None, compression=None, ping_interval=None):
        await asyncio.Future()


def main(argv, env=None):
    env = dict(os.environ if env is None else env)
    # No SIGTERM/SIGINT handlers: the real server installs none, so as PID 1 in a container
    # the kernel drops both and `docker stop` waits its grace period (unless `init: true`).
    # Python's own SIGINT handler (KeyboardInterrupt) would differ: reset it.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    kind = server_kind(argv[0], env)

    def echo(line):
        print(line, file=sys.stderr, flush=True)

    st = prepare(kind, argv, env, echo)
    if st.exit_code is not None:
        sys.exit(st.exit_code)
    sock = listening_socket(st.options["listen-ip"], st.options["port"])
    time.sleep(float(env.get("FUNASR_STANDIN_LOAD_SECONDS", "3")))  # model load time
    load_models(st)
    if st.exit_code is not None:
        sys.exit(st.exit_code)
    asyncio.run(serve_forever(st, sock, env))


if __name__ == "__main__":
    main(sys.argv)
