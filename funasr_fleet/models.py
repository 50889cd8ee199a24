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
from dataclasses import dataclass
from pathlib import Path

from .digest import sha256_bytes, sha256_file
from .errors import DeployError

MANIFEST = ".funasr-fleet-manifest.json"


@dataclass(frozen=True)
class CachedModel:
    """A model revision present and complete in the control-node cache.

    + spec: its `funasr_fleet.modelset.ModelSpec`
    + directory: the cache directory holding its files
    + manifest_sha256: sha256 of its manifest file
    + files: the manifest's file entries
    """

    spec: object
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


def write_manifest(directory, spec):
    """Hash every file of ``directory`` and write its manifest; return the manifest path.

    + directory: a complete model revision directory
    + spec: the `ModelSpec` it holds
    """
    directory = Path(directory)
    entries = [{"path": path.relative_to(directory).as_posix(), "size": path.stat().st_size,
                "sha256": sha256_file(path)}
               for path in sorted(p for p in directory.rglob("*") if p.is_file() and p.name != MANIFEST)]
    return write_manifest_entries(directory, spec, entries)


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
            f"({directory}); put it there first (funasr_models_cache_dir)",
        )
    raw = manifest_path.read_bytes()
    manifest = json.loads(raw)
    for entry in manifest["files"]:
        path = directory / entry["path"]
        if not path.is_file() or path.stat().st_size != entry["size"]:
            raise DeployError(
                f"model {spec.id}@{spec.revision}: cached file {path} is missing or has the "
                f"wrong size (manifest says {entry['size']} bytes); fetch the model again",
            )
    return CachedModel(spec=spec, directory=directory,
                       manifest_sha256=sha256_bytes(raw),
                       files=tuple(manifest["files"]))
