"""
A server start without sockets: main() before listen() (`prepare`: options, the model
step, the hotword file, wss or ws), then the model loading (`startup`). Citations use the
short source names listed in the package docstring (__init__.py).
"""

import re

from .glog import STANDIN
from .loading import load_models
from .model_check import _download_2pass, _download_offline
from .modelfiles import _exists
from .options import MAIN, HelpOrVersion, ParseError, parse_options, tclap_failure
from .record import Exit, Startup

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


def startup(kind, argv, env, echo=None):
    """The whole start, without sockets: `prepare` then `load_models`.

    + kind: "2pass" or "offline"
    + argv: the command line including argv[0]
    + env: environment dict (FUNASR_STANDIN_GPU_BUILD, NVIDIA_VISIBLE_DEVICES,
      FUNASR_STANDIN_EXPORT_SECONDS)
    """
    return load_models(prepare(kind, argv, env, echo))
