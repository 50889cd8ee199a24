"""Manage the model revisions a host holds: seeded from the control-node cache."""

from pyinfra import host
from pyinfra.api import FunctionCommand, StringCommand, operation
from pyinfra.api.command import FileUploadCommand, QuoteString

from ..facts.batch import read, reads
from ..facts.models import ModelManifests
from ..models import MANIFEST, transfer_tree
from ..transfer import SshRsyncCommand, can_rsync, local_rsync_version, ssh_ciphers


@reads(lambda models_dir, **_: [(ModelManifests, {"directory": models_dir})])
@operation()
def models_seeded(models_dir, cached_models, use_rsync=True, ciphers="auto"):
    """
    Give the host each model revision from the control-node cache, sending only what differs.

    + models_dir: the host's models directory, e.g. ``/opt/funasr/models``
    + cached_models: `funasr_fleet.models.CachedModel` items
    + use_rsync: use rsync over SSH when both ends have it (else pyinfra's file transfer)
    + ciphers: SSH ciphers for rsync (``funasr_models_ssh_ciphers``): ``"auto"`` (AES-GCM
      first when both ends have AES instructions), ``""`` (ssh's choice) or a list

    Each revision lives in its own directory (``<owner>/<name>@<revision>``), so the
    running server's models are never touched and the previous release's stay for a
    rollback (`operations.release.release_healthy` prunes revisions no release uses any more). One fact
    reads every manifest the host holds; a revision whose manifest equals the cache's
    costs nothing (no re-hashing of gigabytes). Otherwise the revision gets a staging
    copy under ``<models_dir>/.funasr-fleet-staging``, hard-linked (instant, no space)
    from the closest copy the host holds (the same revision, or another revision of
    the same model); only files whose sha256 differs are sent into it (a sent file
    replaces its link, so no live file is ever written), in one rsync for all models;
    files the revision lacks are removed; then each staging copy is renamed into place.
    An interrupted run leaves every live directory as it was.

    **Example:**

    .. code:: python

        models_seeded(models_dir="/opt/funasr/models", cached_models=cached)
    """
    facts = read(ModelManifests, directory=models_dir)
    held = facts["manifests"]
    changed = [(model, _closest_held(model, held)) for model in cached_models
               if held.get(model.spec.dirname) != model.manifest]
    if not changed:
        return
    plans = [(model, base, *_files_to_change(model, held.get(base))) for model, base in changed]
    needed = sum(entry["size"] for _, _, send, _ in plans for entry in send)
    if facts.get("free_kib") is not None and needed > facts["free_kib"] * 1024:
        yield FunctionCommand(_not_enough_space, (models_dir, needed, facts["free_kib"] * 1024), {})
        return
    staging = f"{models_dir}/{STAGING}"
    yield _staging_prepared(models_dir, staging, [(model, base) for model, base, _, _ in plans])
    if use_rsync and facts["rsync"] and can_rsync(host):
        files = [(f"{model.spec.dirname}/{entry['path']}", model.directory / entry["path"])
                 for model, _, send, _ in plans for entry in (*send, {"path": MANIFEST})]
        yield SshRsyncCommand(f"{transfer_tree(cached_models[0].cache, files)}/", f"{staging}/",
                              model_rsync_flags(facts["rsync"]), ssh_ciphers(ciphers, facts["cpu_aes"]))
        for model, _, _, stale in plans:
            if stale:
                yield StringCommand("rm", "-f", *(QuoteString(f"{staging}/{model.spec.dirname}/{path}")
                                                  for path in stale))
    else:
        for model, _, send, stale in plans:
            yield from _files_uploaded(model, send, stale, f"{staging}/{model.spec.dirname}")
    yield _staging_swapped(models_dir, staging, [model for model, _, _, _ in plans])


STAGING = ".funasr-fleet-staging"
# The first rsync whose --checksum-choice accepts "none".
RSYNC_CC_NONE = (3, 2, 3)


def model_rsync_flags(remote_rsync):
    """rsync's flags for sending a `transfer_tree` into a staging copy, for a host whose
    rsync is ``remote_rsync`` (a version tuple).

    --copy-links: the tree's symlinks are the cached files; --ignore-times: every file in
    it differs from the host's (by sha256), whatever its size and time; no --delete: the
    staging copy keeps the linked files that did not change (stale ones are removed by
    name); no --inplace: a sent file replaces its hard link, never writes through it.
    --checksum-choice=none (both ends 3.2.3+): the files were sha256-verified into the
    cache and SSH authenticates every byte in transit, so rsync's own whole-file checksum
    would only hash every byte again on both ends. Files arrive under temporary names,
    renamed when complete.
    """
    skip = ["--checksum-choice=none"] if min(local_rsync_version(), remote_rsync) >= RSYNC_CC_NONE else []
    return ["-rt", "--copy-links", "--ignore-times", "--whole-file", "--chmod=D755,F644", *skip]


def _closest_held(model, held):
    """The model directory the host holds that shares most files with ``model``: its own
    revision's, else another revision of the same model, else None."""
    if model.spec.dirname in held:
        return model.spec.dirname
    wanted = {(entry["path"], entry["sha256"]) for entry in model.files}
    same_model = [(len(wanted & {(e["path"], e["sha256"]) for e in manifest.get("files", [])}), dirname)
                  for dirname, manifest in held.items() if manifest.get("id") == model.spec.id]
    return max(same_model)[1] if same_model else None


def _files_to_change(model, base):
    """``(entries to send, paths to remove)`` to turn a copy of the manifest ``base``
    (None: an empty directory) into ``model``."""
    have = {entry["path"]: entry["sha256"] for entry in (base or {}).get("files", [])}
    send = [entry for entry in model.files if have.get(entry["path"]) != entry["sha256"]]
    stale = sorted(set(have) - {entry["path"] for entry in model.files})
    return send, stale


def _staging_prepared(models_dir, staging, models):
    """A fresh staging root holding, per ``(model, base)``, a hard-linked copy of the
    host's ``base`` model directory (an empty one when base is None)."""
    parts = ["rm", "-rf", QuoteString(staging), "&&", "mkdir", "-p", QuoteString(staging)]
    for model, base in models:
        copy = f"{staging}/{model.spec.dirname}"
        parts += ["&&", "mkdir", "-p", QuoteString(copy.rpartition("/")[0]), "&&"]
        if base:
            parts += ["{", "cp", "-al", QuoteString(f"{models_dir}/{base}"), QuoteString(copy),
                      "2>/dev/null", "||", "mkdir", "-m", "755", QuoteString(copy), ";", "}"]
        else:
            parts += ["mkdir", "-m", "755", QuoteString(copy)]
    return StringCommand(*parts)


def _staging_swapped(models_dir, staging, models):
    """Root-owned staging copies replace the live ones by rename; the staging root goes."""
    parts = ["chown", "-R", "root:root", QuoteString(staging), "&&",
             "chmod", "-R", "u=rwX,go=rX", QuoteString(staging)]
    for model in models:
        live, copy = f"{models_dir}/{model.spec.dirname}", f"{staging}/{model.spec.dirname}"
        old = f"{live}.funasr-fleet-old"
        parts += ["&&", "mkdir", "-p", QuoteString(live.rpartition("/")[0]), "&&",
                  "rm", "-rf", QuoteString(old), "&&",
                  "{", "[", "!", "-e", QuoteString(live), "]", "||",
                  "mv", QuoteString(live), QuoteString(old), ";", "}", "&&",
                  "mv", QuoteString(copy), QuoteString(live), "&&", "rm", "-rf", QuoteString(old)]
    return StringCommand(*parts, "&&", "rm", "-rf", QuoteString(staging))


def _not_enough_space(state, host, models_dir, needed, free):
    """FunctionCommand body: fail the host before any model byte is sent."""
    host.log_styled(f"not enough space for the models on {host.name}:{models_dir}: "
                    f"{needed / 1e6:.1f} MB to send, {free / 1e6:.1f} MB free; free some space "
                    "(the live models stay in use)", fg="red")
    return False


def _files_uploaded(model, send, stale, staging):
    """Commands (pyinfra's file transfer) that make ``staging``, a hard-linked copy of
    what the host held, hold ``model``: remove ``stale`` paths, upload ``send`` entries."""
    if stale:
        yield StringCommand("rm", "-f", *(QuoteString(f"{staging}/{path}") for path in stale))
    for entry in (*send, {"path": MANIFEST}):
        remote = f"{staging}/{entry['path']}"
        yield StringCommand("rm", "-f", QuoteString(remote), "&&", "mkdir", "-p",
                            QuoteString(remote.rpartition("/")[0]))
        yield FileUploadCommand(str(model.directory / entry["path"]), remote)
