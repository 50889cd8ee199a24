"""
Stand-in model repositories for the lab's ModelScope stand-in (standin_hub.py).

ModelScope is unreachable here, so the stand-in hub serves generated files with each
repository kind's real file names (../shared/docs/model-repos.md section 1). The
content is deterministic per model id, revision and file name, generated block by
block, so a hub can serve gigabytes without storing them and two runs agree.
"""

import hashlib
import random
import runpy
from pathlib import Path

from .. import catalog, modelset

REPO_ROOT = Path(__file__).resolve().parents[2]
BLOCK = 1 << 20

# Files per repository KIND, as ../shared/docs/model-repos.md section 1 lists them (only
# names it marks [runtime], [seen] or [sibling]/listed there; "unknown" names such as
# model.onnx, decoder.onnx, model_eb_quant.onnx are left out).
_ONNX_ASR = ("model_quant.onnx", "am.mvn", "config.yaml", "tokens.json", "configuration.json",
             "README.md")
KINDS = {
    "vad": ("model_quant.onnx", "am.mvn", "config.yaml", "configuration.json", "README.md"),
    "asr": _ONNX_ASR,
    "online_asr": ("model_quant.onnx", "decoder_quant.onnx", "am.mvn", "config.yaml", "tokens.json",
                   "configuration.json", "README.md"),
    "contextual_asr": _ONNX_ASR + ("model_eb.onnx", "seg_dict"),
    "pytorch_asr": ("model.pt", "config.yaml", "am.mvn", "tokens.json", "seg_dict",
                    "configuration.json", "README.md", "example/asr_example.wav", "fig/struct.png"),
    "punc": ("model_quant.onnx", "config.yaml", "tokens.json", "configuration.json", "README.md"),
    "punc_cn_en": ("model_quant.onnx", "config.yaml", "tokens.json", "jieba.c.dict", "jieba.hmm",
                   "jieba_usr_dict", "configuration.json", "README.md"),
    "itn": ("zh_itn_tagger.fst", "zh_itn_verbalizer.fst"),
    "lm": ("TLG.fst", "config.yaml", "lexicon.txt"),
}
LARGE = (".onnx", ".fst", ".pt")


def kind_of(model_id):
    """The repository kind a model id looks like (the stand-in hub serves any id)."""
    name = model_id.lower().rpartition("/")[2]
    if name.endswith("-pytorch"):
        return "pytorch_asr"
    if "contextual" in name:
        return "contextual_asr"
    if "ngram" in name or name.endswith("-fst"):
        return "lm"
    if "itn" in name:
        return "itn"
    if "_asr" in name or "asr_nat" in name:  # ...-vad-punc_asr_nat-... is an ASR model
        return "online_asr" if "online" in name else "asr"
    if "punc" in name:  # before "vad": ...punc_ct-transformer_...-vad_realtime-... is PUNC
        return "punc_cn_en" if "cn-en" in name else "punc"
    if "vad" in name:
        return "vad"
    return "online_asr" if "online" in name else "asr"


def default_model_sets(all_data_file=REPO_ROOT / "group_data" / "all.py"):
    """``(role, ModelSpec)`` pairs of every profile's default model set in group_data/all.py."""
    data = runpy.run_path(str(all_data_file))
    merged = modelset.merge_layers([data["funasr_models"]])
    return [(role, spec)
            for name, profile in catalog.PROFILES.items()
            for role, spec in modelset.check_model_set(profile, merged.get(name, {})).items()]


class StandinFile:
    """One generated file: its size, sha256 and bytes at any offset.

    + model_id, revision, name: what the file belongs to (the content's seed)
    + size: bytes
    """

    def __init__(self, model_id, revision, name, size):
        self.seed = f"funasr-fleet stand-in model {model_id}@{revision}/{name}"
        self.size = size
        self._sha256 = None

    def block(self, index):
        length = min(BLOCK, self.size - index * BLOCK)
        return random.Random(f"{self.seed}:{index}").randbytes(length)

    def read(self, offset, length):
        """``length`` bytes from ``offset`` (fewer at the end of the file)."""
        end = min(self.size, offset + length)
        out = bytearray()
        while offset < end:
            index, skip = divmod(offset, BLOCK)
            chunk = self.block(index)[skip:skip + end - offset]
            out += chunk
            offset += len(chunk)
        return bytes(out)

    @property
    def sha256(self):
        if self._sha256 is None:
            digest = hashlib.sha256()
            for index in range((self.size + BLOCK - 1) // BLOCK):
                digest.update(self.block(index))
            self._sha256 = digest.hexdigest()
        return self._sha256


SMALL_FILE = 4096


def standin_repo(model_id, revision, size):
    """``{file name: StandinFile}`` of a stand-in model repository revision.

    + size: bytes of each model file (.onnx, .fst, .pt); other files get 4 KiB at most

    Paths may be nested (``example/asr_example.wav`` in the -pytorch repositories).
    """
    return {name: StandinFile(model_id, revision, name,
                              size if name.endswith(LARGE) else min(size, SMALL_FILE))
            for name in KINDS[kind_of(model_id)]}
