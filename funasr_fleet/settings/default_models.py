"""The model sets funasr_models defaults to, per profile kind, every revision pinned."""

# The models several sets share: voice activity, inverse text normalisation, the LM,
# and the large Chinese-English punctuation model of the offline sets.
VAD = {"id": "iic/speech_fsmn_vad_zh-cn-16k-common-onnx", "revision": "v2.0.4"}
ITN = {"id": "thuduj12/fst_itn_zh", "revision": "v1.0.1"}
LM = {"id": "iic/speech_ngram_lm_zh-cn-ai-wesp-fst", "revision": "v1.0.2"}
OFFLINE_PUNC = {"id": "iic/punc_ct-transformer_cn-en-common-vocab471067-large-onnx", "revision": "v2.0.5"}

# The model sets of FunASR's runtime scripts, with the LM.
DEFAULT_MODELS = {
    "2pass": {
        "vad": VAD,
        "asr": {"id": "iic/speech_paraformer-large_asr_nat-zh-cn-16k-common-vocab8404-onnx",
                "revision": "v2.0.5"},
        "online_asr": {"id": "iic/speech_paraformer-large_asr_nat-zh-cn-16k-common-vocab8404-online-onnx",
                       "revision": "v2.0.5"},
        "punc": {"id": "iic/punc_ct-transformer_zh-cn-common-vad_realtime-vocab272727-onnx",
                 "revision": "v2.0.5"},
        "itn": ITN,
        "lm": LM,
    },
    "offline": {
        "vad": VAD,
        "asr": {"id": "iic/speech_paraformer-large-vad-punc_asr_nat-zh-cn-16k-common-vocab8404-onnx",
                "revision": "v2.0.5"},
        "punc": OFFLINE_PUNC,
        "itn": ITN,
        "lm": LM,
    },
    # FunASR's GPU guide: a PyTorch ASR model; the GPU server exports it to TorchScript at
    # its first start (into a writable per-host copy of the revision, see funasr_gpu_bladedisc).
    "offline-gpu": {
        "vad": VAD,
        "asr": {"id": "iic/speech_paraformer-large-vad-punc_asr_nat-zh-cn-16k-common-vocab8404-pytorch",
                "revision": "v2.0.5"},
        "punc": OFFLINE_PUNC,
        "itn": ITN,
        "lm": LM,
    },
}
