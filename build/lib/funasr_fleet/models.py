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


def manifest_bytes(spec, entries):
    """The manifest file's bytes for ``spec`` with these file entries (its sha256 is the
    `CachedModel.manifest_sha256` the compose digests are made of)."""
    manifest = {"id": spec.id, "revision": spec.revision,
                "files": sorted(entries, key=lambda entry: entry["path"])}
    return (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode("utf-8")


def write_manifest_entries(directory, spec, entries):
    """Write the manifest of ``directory`` from known (already verified) file entries."""
    target = Path(directory) / MANIFEST
    temporary = Path(directory) / f"{MANIFEST}.tmp"
    temporary.write_bytes(manifest_bytes(spec, entries))
    temporary.replace(target)
    return target


def planned_model(cache, spec, entries):
    """The `CachedModel` a fetch of ``entries`` (the hub's listing) would put in the cache.

    For ``--dry``: nothing is read or written; its ``manifest_sha256`` and ``files`` equal
    those of the revision once fetched, so the plan shows the changes a real run makes.
    """
    raw = manifest_bytes(spec, entries)
    return CachedModel(spec=spec, cache=Path(cache), directory=cache_dir_for(cache, spec),
                       manifest_sha256=sha256_bytes(raw), files=tuple(json.loads(raw)["files"]))


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


def transfer_tree(cache, files):
    """A directory holding ``files`` where a host's models dir wants them; return its path.

    + cache: the control-node cache the files are in
    + files: ``(path below the models dir, cached file)`` pairs

    One symlink per file (``rsync --copy-links`` sends the cached bytes), so a single
    rsync sends every changed file of every model (one SSH connection, not one per
    model). Stored in ``<cache>/.transfer/<digest of the list>``, made once and reused.

    **Example:**

    .. code:: python

        transfer_tree(cache, [("iic/vad@v2.0.4/model_quant.onnx", cached / "model_quant.onnx")])
    """
    from .cachelock import produce_once

    listing = "\n".join(f"{path}\t{Path(source).resolve()}" for path, source in sorted(files))
    key = sha256_bytes(listing.encode())[:16]
    tree = Path(cache) / ".transfer" / key

    def produce():
        partial = tree.with_name(f"{key}.partial")
        for path, source in files:
            link = partial / path
            link.parent.mkdir(parents=True, exist_ok=True)
            if not link.is_symlink():
                os.symlink(Path(source).resolve(), link)
        partial.replace(tree)

    produce_once(tree, produce)
    return tree
