"""
Stand-in model repositories for the lab's ModelScope stand-in (standin_hub.py).

ModelScope is unreachable here, so the stand-in hub serves generated files with the
names the FunASR server checks for (model_quant.onnx, the ITN .fst files, ...). The
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

# Files per role, as the FunASR server and its model repos name them.
ROLE_FILES = {
    "asr": ("model_quant.onnx", "model.onnx", "config.yaml", "am.mvn", "tokens.json"),
    "online_asr": ("model_quant.onnx", "model.onnx", "config.yaml", "am.mvn", "tokens.json"),
    "vad": ("model_quant.onnx", "model.onnx", "config.yaml", "am.mvn"),
    "punc": ("model_quant.onnx", "model.onnx", "config.yaml", "tokens.json"),
    "itn": ("zh_itn_tagger.fst", "zh_itn_verbalizer.fst"),
    "lm": ("TLG.fst", "config.yaml"),
}


def role_of(model_id):
    """The role a model id looks like (the stand-in hub serves any id it is asked for)."""
    name = model_id.lower()
    for marker, role in (("vad", "vad"), ("punc", "punc"), ("itn", "itn"), ("ngram", "lm"),
                         ("online", "online_asr")):
        if marker in name:
            return role
    return "asr"


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

    + size: bytes of each model file (.onnx, .fst); configuration files get 4 KiB at most
    """
    return {name: StandinFile(model_id, revision, name,
                              size if name.endswith((".onnx", ".fst")) else min(size, SMALL_FILE))
            for name in ROLE_FILES[role_of(model_id)]}
