"""
main()'s model step before listen(), per role and in the real order: a local directory or
a ModelScope id, the download tool either way, then the role's required file, else
exit(-1). What makes a server exit 255 at start. Citations use the short source names
listed in the package docstring (__init__.py).
"""

from .download_tool import download_tool
from .modelfiles import (BLADE_MODEL_NAME, EN_MODEL, FALSE_WORDS, FORCE_V205, ITN_TAGGER_NAME,
                         LM_FST_RES, MODEL_NAME, MODEL_SVS, QUANT_MODEL_NAME, TORCH_MODEL_NAME,
                         _exists)

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
