"""
WebSocketServer::initAsr: the models each server loads after listen(), the files each
loader opens, the log lines, and the missing files that exit(-1). Citations use the short
source names listed in the package docstring (__init__.py).
"""

from .gpu import cuda_available, gpu_build
from .modelfiles import (BLADE_MODEL_NAME, CMVN_NAME, CONFIG_NAME, DECODER_NAME, ITN_TAGGER_NAME,
                         ITN_VERBALIZER_NAME, LEX_PATH, LM_FST_RES, MODEL_EB_NAME, MODEL_NAME,
                         MODEL_SEG_DICT, QUANT_DECODER_NAME, QUANT_MODEL_NAME, TOKEN_PATH,
                         TORCH_MODEL_EB_NAME, TORCH_MODEL_NAME, _exists, path_append)
from .options import MAIN
from .record import Exit


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
