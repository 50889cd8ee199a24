"""
Fetch FunASR models from a ModelScope hub (or a mirror) into the control-node cache.

Each model revision is fetched once per fleet, on the control node: list its files
(size + sha256), download them in parallel with HTTP Range resume, verify every file,
write the manifest, then rename the whole revision directory into place. A failure at
any step leaves no directory that `funasr_fleet.models.load_cached_model` would accept,
and never touches a revision already cached. `plan_fetch` says what a fetch would do, from
the listing alone, without changing anything (pyinfra ``--dry``). ``python -m funasr_fleet
models fetch`` (funasr_fleet/cli/models.py) warms the cache for a whole fleet.

On a terminal, each revision being downloaded gets a progress bar on stderr (`Progress`);
a `FetchTally` adds up what came from the hub and what from the cache, for the final line
(``models: fetched 3 files (1.2 GB) from https://www.modelscope.cn, 2.1 GB from cache``).
"""

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import requests

from .digest import sha256_file
from .cachelock import produce_once
from .errors import DeployError
from .fetch_progress import FetchTally, Progress, human_bytes, progress_line  # noqa: F401 (the hub's API)
from .models import cache_dir_for, load_cached_model, planned_model, write_manifest_entries

DEFAULT_ENDPOINT = "https://www.modelscope.cn"
BLOCK = 16 * 1024  # small, so an interrupted download keeps nearly all that came
# Transient hub failures (a broken or timed-out connection, HTTP 429 or 5xx, a short body)
# are tried again this many times, waiting RETRY_BACKOFF * 2**n seconds; a download
# resumes from the bytes it already has (HTTP Range).
RETRIES, RETRY_BACKOFF = 4, 0.5
TRANSIENT_STATUS = frozenset({429, 500, 502, 503, 504})


def endpoint_or_default(endpoint):
    """``endpoint``, else $MODELSCOPE_ENDPOINT, else ModelScope's public hub."""
    return (endpoint or os.environ.get("MODELSCOPE_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


class _Transient(Exception):
    """A hub failure worth another try: the connection broke or timed out, the hub said
    429 or 5xx, or the body ended short."""


def _with_retries(call, failed):
    """``call()``, tried again after a `_Transient` failure (`RETRIES` times, waiting
    `RETRY_BACKOFF` seconds, doubling); then `DeployError` with ``failed(error)``."""
    for attempt in range(RETRIES + 1):
        try:
            return call()
        except _Transient as error:
            if attempt == RETRIES:
                raise DeployError(failed(error)) from None
            time.sleep(RETRY_BACKOFF * 2 ** attempt)


def list_files(endpoint, spec, session, allow_missing_sha256=False):
    """The blobs of a model revision as manifest entries ``{"path", "size", "sha256"}``.

    + endpoint: hub base URL
    + spec: a `ModelSpec`
    + session: a ``requests.Session``
    + allow_missing_sha256: accept files the hub lists without a sha256 (not verified then)
    """
    url = f"{endpoint}/api/v1/models/{spec.id}/repo/files"
    where = f"{spec.id}@{spec.revision} at {endpoint}"

    def listed():
        try:
            response = session.get(url, params={"Revision": spec.revision, "Recursive": "true"}, timeout=30)
        except requests.RequestException as error:
            raise _Transient(f"the model hub did not answer: {error}") from None
        if response.status_code in TRANSIENT_STATUS:
            raise _Transient(f"HTTP {response.status_code}")
        return response

    response = _with_retries(listed, lambda error: (
        f"listing {where} failed {RETRIES + 1} times ({error}); check that this control node "
        "reaches the hub, or point funasr_models_endpoint at a mirror that it reaches"))
    body = _json(response)
    if response.status_code != 200 or body.get("Code") != 200:
        raise DeployError(f"listing {where} failed: HTTP {response.status_code} "
                          f"{body.get('Message') or response.text[:200]!r} (unknown model or revision?)")
    entries = []
    for item in body.get("Data", {}).get("Files", []):
        if item.get("Type") != "blob":
            continue
        if not item.get("Sha256") and not allow_missing_sha256:
            raise DeployError(f"{where}: the hub lists {item['Path']} without a sha256; "
                              "refusing an unverifiable file")
        entries.append({"path": item["Path"], "size": int(item["Size"]), "sha256": item.get("Sha256")})
    if not entries:
        raise DeployError(f"{where}: the hub lists no files")
    return entries


def download_file(endpoint, spec, entry, directory, session, progress):
    """Download one file into ``directory``: resume ``.part`` with Range, verify, rename.

    Raises `DeployError` on a size or sha256 mismatch (the ``.part`` is removed).
    """
    target = Path(directory) / entry["path"]
    part = target.with_name(target.name + ".part")
    target.parent.mkdir(parents=True, exist_ok=True)
    if not (target.is_file() and target.stat().st_size == entry["size"]):
        _fetch_into(endpoint, spec, entry, part, session, progress)
        part.replace(target)
    actual = sha256_file(target)
    if entry["sha256"] and actual != entry["sha256"]:
        target.unlink()
        raise DeployError(f"sha256 mismatch for {spec.id}@{spec.revision}/{entry['path']}: hub says "
                          f"{entry['sha256']}, got {actual}; the download was discarded and the "
                          "cache was not changed")


def _fetch_into(endpoint, spec, entry, part, session, progress):
    """Download one file into ``part``, resuming with a Range request from the bytes it
    holds; transient failures are retried, each try resuming where the last one stopped."""
    where = f"{spec.id}@{spec.revision}/{entry['path']}"
    size = part.stat().st_size if part.is_file() else 0
    held = [size if size <= entry["size"] else 0]  # what an earlier run left, while kept
    _with_retries(lambda: _fetch_once(endpoint, spec, entry, part, session, progress, where, held),
                  lambda error: f"downloading {where} failed {RETRIES + 1} times ({error}); run again "
                                f"to resume from byte {part.stat().st_size if part.is_file() else 0}")


def _fetch_once(endpoint, spec, entry, part, session, progress, where, held):
    offset = part.stat().st_size if part.is_file() else 0
    if offset > entry["size"]:
        part.unlink()
        offset = 0
    if offset == entry["size"]:
        return
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    url = f"{endpoint}/api/v1/models/{spec.id}/repo"
    params = {"Revision": spec.revision, "FilePath": entry["path"]}
    try:
        with session.get(url, params=params, headers=headers, stream=True, timeout=60) as response:
            if response.status_code in TRANSIENT_STATUS:
                raise _Transient(f"HTTP {response.status_code}")
            if response.status_code not in (200, 206):
                raise DeployError(f"downloading {where} failed: HTTP {response.status_code}")
            mode = "ab" if response.status_code == 206 else "wb"
            if mode == "wb" and offset:  # the hub did not resume: the part comes again
                progress.discard(offset, held[0])
                held[0] = 0
            with open(part, mode) as out:
                for block in response.iter_content(BLOCK):
                    out.write(block)
                    progress.add(len(block))
    except requests.RequestException as error:
        raise _Transient(f"interrupted: {error}") from None
    if part.stat().st_size != entry["size"]:
        raise _Transient(f"stopped at {part.stat().st_size} of {entry['size']} bytes")


def fetch_model(endpoint, spec, cache_dir, *, session=None, workers=4, progress=True, tally=None):
    """Return the cached model revision, fetching it first if the cache lacks it.

    + endpoint: hub base URL (None: $MODELSCOPE_ENDPOINT or ModelScope)
    + spec: the `ModelSpec` (always a pinned revision)
    + cache_dir: the control-node model cache
    + workers: parallel downloads
    + progress: show a progress bar on stderr while downloading, when it is a terminal
    + tally: a `FetchTally` to add what this call fetched and took from the cache to

    A complete cached revision costs no request at all.

    **Example:**

    .. code:: python

        tally = FetchTally()
        fetch_model(None, ModelSpec("iic/speech_fsmn_vad_zh-cn-16k-common-onnx", "v2.0.4"),
                    "~/.cache/funasr-fleet/models", tally=tally)
        print(tally.line())
    """
    endpoint, final = endpoint_or_default(endpoint), cache_dir_for(cache_dir, spec)
    fetched = []  # this call's `Progress`, when it downloaded the revision
    produce_once(final, lambda: fetched.append(_fetch(endpoint, spec, final, session, workers, progress)))
    cached = load_cached_model(cache_dir, spec)
    if tally is not None:
        tally.add(endpoint, cached, fetched[0] if fetched else None)
    return cached


def _fetch(endpoint, spec, final, session, workers, progress):
    """Download, verify and move a model revision into ``final``; returns its `Progress`."""
    session = session or requests.Session()
    entries = list_files(endpoint, spec, session)
    partial = final.with_name(final.name + ".partial")
    partial.mkdir(parents=True, exist_ok=True)
    missing = [_missing_bytes(partial, entry) for entry in entries]
    meter = Progress(f"{spec.id}@{spec.revision}", sum(e["size"] for e in entries),
                     held=sum(e["size"] for e in entries) - sum(missing),
                     files=sum(1 for count in missing if count), enabled=progress)
    try:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(download_file, endpoint, spec, entry, partial, session, meter)
                       for entry in entries]
            for future in futures:
                future.result()
    finally:
        meter.done()
    write_manifest_entries(partial, spec, entries)
    partial.replace(final)
    return meter


def fetch_models(endpoint, specs, cache_dir, **options):
    """`fetch_model` for each distinct spec; returns the `CachedModel` items in order."""
    return [fetch_model(endpoint, spec, cache_dir, **options) for spec in dict.fromkeys(specs)]


@dataclass(frozen=True)
class FetchPlan:
    """What `fetch_model` would do for one model revision, found without changing anything.

    + model: the `CachedModel`: the cached one, or the one the fetch would make (its
      manifest digest computed from the hub's listing)
    + cached: the revision is complete in the cache (a fetch costs nothing)
    + files: the entries the fetch would download (empty when cached)
    + download_bytes: the bytes it would download (a cut download resumes, so files
      already partly in ``<revision>.partial`` count only for what is missing)
    """

    model: object
    cached: bool
    files: tuple = ()
    download_bytes: int = 0


def plan_fetch(endpoint, spec, cache_dir, *, session=None, listings=None):
    """`FetchPlan` of ``fetch_model(endpoint, spec, cache_dir)``, for ``--dry``: read-only.

    + endpoint, spec, cache_dir: as for `fetch_model`
    + listings: a dict that keeps the hub's listings, so that planning the same revision
      for many hosts lists it once

    A revision in the cache is read from it (no request; `DeployError` when it is
    incomplete, as `fetch_model` raises); otherwise the hub's file listing (sizes and
    sha256) says what would be downloaded and what the manifest would be. No directory,
    lock or file is created, and no file is downloaded.

    **Example:**

    .. code:: python

        plan = plan_fetch(None, spec, "~/.cache/funasr-fleet/models")
        print(len(plan.files), plan.download_bytes)
    """
    final = cache_dir_for(cache_dir, spec)
    if final.exists():
        return FetchPlan(model=load_cached_model(cache_dir, spec), cached=True)
    endpoint = endpoint_or_default(endpoint)
    listings = {} if listings is None else listings
    key = (endpoint, spec)
    with _LISTING:
        if key not in listings:
            listings[key] = list_files(endpoint, spec, session or requests.Session())
    entries = listings[key]
    partial = final.with_name(final.name + ".partial")
    wanted = [(entry, _missing_bytes(partial, entry)) for entry in entries]
    return FetchPlan(model=planned_model(cache_dir, spec, entries), cached=False,
                     files=tuple(entry for entry, missing in wanted if missing),
                     download_bytes=sum(missing for _, missing in wanted))


_LISTING = threading.Lock()  # cooperative under pyinfra's gevent: hosts wait for one listing


def _missing_bytes(partial, entry):
    """Bytes of ``entry`` a fetch into ``partial`` would download (as `download_file` does)."""
    target = partial / entry["path"]
    if target.is_file() and target.stat().st_size == entry["size"]:
        return 0
    part = target.with_name(target.name + ".part")
    held = part.stat().st_size if part.is_file() else 0
    return entry["size"] - (held if held <= entry["size"] else 0)


def fleet_model_sets(inventory):
    """The distinct ``(endpoint, cache_dir, spec)`` to fetch for every host of ``inventory``.

    Hosts are validated first (`funasr_fleet.settings.check_inventory`), as the deploy does.
    """
    from .settings import check_inventory, load_settings

    check_inventory(inventory)
    wanted = {}
    for host in inventory:
        settings = load_settings(host)
        for spec in settings.funasr_models.values():
            wanted[(settings.funasr_models_endpoint, settings.funasr_models_cache_dir, spec)] = None
    return list(wanted)


def _json(response):
    try:
        return response.json()
    except ValueError:
        return {}
