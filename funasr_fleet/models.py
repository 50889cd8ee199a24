"""
The control-node model cache and its manifests.

Layout: ``<cache>/<owner>/<name>/<revision>/`` holds one model revision's files and
``.funasr-fleet-manifest.json``::

    {"id": "iic/...", "revision": "v2.0.4",
     "files": [{"path": "model_quant.onnx", "size": 123, "sha256": "..."}]}

A host holds the active revision at ``<funasr_dir>/models/<owner>/<name>/`` with the
same manifest; comparing the manifests' sha256 tells whether a host is up to date
without re-hashing gigabytes.
"""

import json
import os
from dataclasses import dataclass
from pathlib import Path

from .digest import sha256_bytes
from .errors import DeployError

MANIFEST = ".funasr-fleet-manifest.json"


@dataclass(frozen=True)
class CachedModel:
    """A model revision present and complete in the control-node cache.

    + spec: its `funasr_fleet.modelset.ModelSpec`
    + cache: the control-node cache it is in
    + directory: the cache directory holding its files
    + manifest_sha256: sha256 of its manifest file
    + files: the manifest's file entries
    """

    spec: object
    cache: Path
    directory: Path
    manifest_sha256: str
    files: tuple

    @property
    def manifest(self):
        """The manifest as a dict, for comparing with the one a host holds."""
        return {"id": self.spec.id, "revision": self.spec.revision, "files": list(self.files)}


def cache_dir_for(cache, spec):
    """Cache directory of a model revision: ``<cache>/<owner>/<name>/<revision>``."""
    return Path(cache) / spec.id / spec.revision


def write_manifest_entries(directory, spec, entries):
    """Write the manifest of ``directory`` from known (already verified) file entries."""
    manifest = {"id": spec.id, "revision": spec.revision,
                "files": sorted(entries, key=lambda entry: entry["path"])}
    target = Path(directory) / MANIFEST
    temporary = Path(directory) / f"{MANIFEST}.tmp"
    temporary.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    temporary.replace(target)
    return target


def load_cached_model(cache, spec):
    """Return the `CachedModel` for ``spec``; raise `DeployError` if absent or incomplete.

    Sizes are checked against the manifest (hashes were checked when the files came in).
    """
    directory = cache_dir_for(cache, spec)
    manifest_path = directory / MANIFEST
    if not manifest_path.is_file():
        raise DeployError(
            f"model {spec.id}@{spec.revision} is not in the control-node model cache "
            f"({directory}); fetch it: python -m funasr_fleet models fetch INVENTORY",
        )
    raw = manifest_path.read_bytes()
    manifest = json.loads(raw)
    for entry in manifest["files"]:
        path = directory / entry["path"]
        if not path.is_file() or path.stat().st_size != entry["size"]:
            raise DeployError(
                f"model {spec.id}@{spec.revision}: cached file {path} is missing or has the "
                f"wrong size (manifest says {entry['size']} bytes); remove {directory} and fetch it again",
            )
    return CachedModel(spec=spec, cache=Path(cache), directory=directory,
                       manifest_sha256=sha256_bytes(raw),
                       files=tuple(manifest["files"]))


def transfer_tree(cached_models):
    """A directory laying out ``cached_models`` as a host's models dir does; return its path.

    + cached_models: `CachedModel` items of one cache

    It holds one symlink per model, ``<owner>/<name>`` -> the cached revision, so a single
    ``rsync --copy-dirlinks`` sends them all (one SSH connection, not one per model).
    Stored in ``<cache>/.transfer/<digest of the set>``, made once and reused.
    """
    from .cachelock import produce_once

    key = sha256_bytes("\n".join(sorted(f"{m.spec.id}@{m.spec.revision}" for m in cached_models))
                       .encode())[:16]
    tree = Path(cached_models[0].cache) / ".transfer" / key

    def produce():
        partial = tree.with_name(f"{key}.partial")
        for model in cached_models:
            link = partial / model.spec.dirname
            link.parent.mkdir(parents=True, exist_ok=True)
            if not link.is_symlink():
                os.symlink(Path(model.directory).resolve(), link)
        partial.replace(tree)

    produce_once(tree, produce)
    return tree
