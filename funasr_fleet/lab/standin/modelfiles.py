"""
Model file names (com-define.h), the model names main() treats specially, and how the C++
finds a file (util.cpp PathAppend, access(F_OK)). Citations use the short source names
listed in the package docstring (__init__.py).
"""

import os

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


def path_append(directory, name):
    """util.cpp:76-91 PathAppend (an empty directory reads past the string: "/" + name)."""
    return directory + name if directory.endswith("/") else directory + "/" + name


def _exists(path):
    return os.access(path, os.F_OK)  # access(path, F_OK) == 0
