"""
Stand-in model files for the lab's control-node model cache.

ModelScope is unreachable here, so the lab writes small generated files with the
names the FunASR server checks for (model_quant.onnx, the ITN .fst files, ...) into
the cache layout of funasr_fleet.models, with real manifests. The stand-in server
refuses to start without them, exactly as the real server does without real ones.
"""

import hashlib
import runpy
from pathlib import Path

from .. import catalog, modelset
from ..models import MANIFEST, cache_dir_for, write_manifest

REPO_ROOT = Path(__file__).resolve().parents[2]

# Files per role, as the FunASR server and its model repos name them.
ROLE_FILES = {
    "asr": ("model_quant.onnx", "model.onnx", "config.yaml", "am.mvn", "tokens.json"),
    "online_asr": ("model_quant.onnx", "model.onnx", "config.yaml", "am.mvn", "tokens.json"),
    "vad": ("model_quant.onnx", "model.onnx", "config.yaml", "am.mvn"),
    "punc": ("model_quant.onnx", "model.onnx", "config.yaml", "tokens.json"),
    "itn": ("zh_itn_tagger.fst", "zh_itn_verbalizer.fst"),
    "lm": ("TLG.fst", "config.yaml"),
}


def default_model_sets(all_data_file=REPO_ROOT / "group_data" / "all.py"):
    """``{role: ModelSpec}`` pairs of every profile's default model set in group_data/all.py."""
    data = runpy.run_path(str(all_data_file))
    merged = modelset.merge_layers([data["funasr_models"]])
    return [(role, spec)
            for name, profile in catalog.PROFILES.items()
            for role, spec in modelset.check_model_set(profile, merged.get(name, {})).items()]


def standin_bytes(spec, filename, size):
    """Deterministic filler bytes for one stand-in file (same inputs, same bytes)."""
    seed = f"funasr-fleet stand-in model {spec.id}@{spec.revision}/{filename}".encode()
    out = bytearray(seed + b"\n")
    block = seed
    while len(out) < size:
        block = hashlib.sha256(block).digest()
        out += block
    return bytes(out[:size])


def seed_standin_models(cache_dir, role_specs, size=64 * 1024):
    """Write stand-in files + manifests for each ``(role, spec)`` missing from the cache.

    + cache_dir: the control-node model cache (funasr_models_cache_dir)
    + role_specs: ``(role, ModelSpec)`` pairs, e.g. from `default_model_sets`
    + size: bytes per stand-in file

    Returns the number of models written.

    **Example:**

    .. code:: python

        seed_standin_models(".lab/models", default_model_sets())
    """
    written = 0
    for role, spec in role_specs:
        directory = cache_dir_for(cache_dir, spec)
        if (directory / MANIFEST).is_file():
            continue
        directory.mkdir(parents=True, exist_ok=True)
        for filename in ROLE_FILES[role]:
            (directory / filename).write_bytes(standin_bytes(spec, filename, size))
        write_manifest(directory, spec)
        written += 1
    return written
