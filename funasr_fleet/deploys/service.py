"""
The FunASR service: what a host's release is made of on the control node (its files and
their config digest, the server certificate, the models and image; `planned_inputs` for
``--dry``), staged on the host before any wave (`funasr_service`), and the GPU checks
(`gpus_ready` before any host changes, `gpus_checked` in the host's wave).
"""

import weakref
from dataclasses import dataclass
from pathlib import Path

from pyinfra import host
from pyinfra.api import HiddenValue, deploy

from .. import tls
from ..cert_names import san_name
from ..digest import rendered_with_digest, sha256_bytes, sha256_text
from ..errors import DeployError, SettingsError
from ..facts.batch import read
from ..facts.nvidia import NvidiaGpus
from ..hub import plan_fetch
from ..images import planned_tarball
from ..operations.docker import image_loaded, image_pulled
from ..operations.files import managed_paths
from ..operations.models import models_seeded
from ..operations.nvidia import gpu_export_copied, gpus_visible
from ..render import gpu_export, render_compose, render_hotwords


def gpus_ready(settings):
    """The host's NVIDIA GPUs when its profile needs them ([] otherwise), checked.

    + settings: the host's `Settings`

    Raises `SettingsError` while deploy.py is prepared, so before any host changes,
    when a GPU-profile host has no working driver or lacks a GPU ``funasr_gpus`` names.
    Installing the NVIDIA driver is out of scope (a reboot-bound, hardware-specific job).
    """
    if not settings.profile.gpu:
        return []
    facts = read(NvidiaGpus)
    where = f"{settings.host}: funasr_profile = {settings.funasr_profile!r}"
    if not facts["ok"]:
        raise SettingsError(
            f"{where} needs a working NVIDIA driver, but {facts['error']}; install the NVIDIA "
            "driver on this host first (funasr-fleet does not install drivers), or move the host "
            "out of the gpu group. Nothing was changed on any host.")
    wanted, present = settings.funasr_gpus, facts["gpus"]
    known = {gpu["index"] for gpu in present} | {gpu["uuid"] for gpu in present}
    missing = ([gpu for gpu in wanted if gpu not in known] if isinstance(wanted, tuple)
               else [f"{wanted} GPUs"] if isinstance(wanted, int) and wanted > len(present) else [])
    if missing:
        raise SettingsError(
            f"{settings.host}: funasr_gpus = {wanted!r} asks for {', '.join(missing)}, but "
            f"nvidia-smi lists {len(present)}: "
            f"{', '.join(gpu['index'] + ' ' + gpu['uuid'] for gpu in present)}; set funasr_gpus "
            "to GPUs this host has (or \"all\"). Nothing was changed on any host.")
    return present


def server_certificate(settings, balancer=None, dry=False):
    """The host's server certificate and key on the control node, or None for plain ws.

    + settings: the host's `Settings`
    + balancer: the fleet's `funasr_fleet.balancer.Balancer` (None: none); its hosts'
      names go into generated certificates too, since clients reach the servers through it
    + dry: a ``--dry`` run: nothing is created or issued; logs what a real run would
      issue and returns a `tls.PlannedCertificate` for it (the kept files otherwise)

    ``funasr_tls = "files"``: the operator's files. ``"generated"``: the certificate the
    fleet CA issued for the host's names (`Settings.tls_sans`), issued now when the host
    has none or its names changed (logged, never the key). A control-node input: call it
    while the deploy is prepared, before any host changes.

    **Example:**

    .. code:: python

        certificate = server_certificate(settings)  # tls.CertificateFiles or None
    """
    if settings.funasr_tls == "files":
        return tls.CertificateFiles(cert=Path(settings.funasr_tls_cert), key=Path(settings.funasr_tls_key))
    if settings.funasr_tls != "generated":
        return None
    names = tuple(dict.fromkeys(settings.tls_sans + tuple(
        san_name(name) for name in (balancer.names if balancer else ()))))
    if dry:
        planned = tls.plan_host_certificate(settings.funasr_tls_dir, settings.host, names)
        if isinstance(planned, tls.PlannedCertificate):
            ca = (f"create the fleet CA in {tls.ca_files(settings.funasr_tls_dir).cert.parent} and "
                  if planned.new_ca else "")
            host.log(f"dry run: would {ca}issue a new TLS certificate into "
                     f"{planned.files.cert.parent} ({planned.reason}): {', '.join(names)}")
        return planned
    issued = tls.host_certificate(settings.funasr_tls_dir, settings.host, names)
    if issued.reason:
        host.log(f"TLS: new certificate from the fleet CA ({issued.reason}): {', '.join(names)}")
    return issued.files


# Hub listings a --dry run has read, per pyinfra run: planning a revision for many hosts
# lists it once, as a real run fetches it once.
_DRY_LISTINGS = weakref.WeakKeyDictionary()


def planned_inputs(settings):
    """``--dry``: the image tarball and model set a real run would prepare on the control
    node for this host, found without changing anything there (no download, no
    ``docker save``, no directory or lock file); logs what it would fetch and save.

    + settings: the host's (server's) `Settings`

    Returns ``(delivery, cached_models)`` as deploy.py's real calls would, so the host's
    plan shows the same changes: the models carry the manifest digests the fetch would
    write (from the hub's listing), the tarball the path it would be saved to.
    """
    delivery = None
    if settings.funasr_image_delivery == "tarball":
        delivery, would_save = planned_tarball(settings.image, settings.funasr_image_cache_dir)
        if would_save:
            host.log(f"dry run: would save image {settings.image} ({delivery.image_id}) with "
                     f"docker save into {delivery.path}")
    listings = _DRY_LISTINGS.setdefault(host.state, {})
    plans = [plan_fetch(settings.funasr_models_endpoint, spec, settings.funasr_models_cache_dir,
                        listings=listings)
             for spec in dict.fromkeys(settings.funasr_models.values())]
    for plan in plans:
        if plan.cached:
            continue
        spec, files = plan.model.spec, plan.files
        listed = ", ".join(f"{entry['path']} {entry['size']:,}" for entry in files)
        resumed = (" (the rest of a cut download)"
                   if plan.download_bytes < sum(entry["size"] for entry in files) else "")
        host.log(f"dry run: would fetch {spec.id}@{spec.revision} into {plan.model.directory}: "
                 f"{len(files)} files, {plan.download_bytes:,} bytes{resumed}: {listed}")
    return delivery, [plan.model for plan in plans]


def service_inputs(settings, certificate):
    """The hotwords text a host's service directory gets, and the digests of its inputs.

    + settings: the host's `Settings`
    + certificate: the host's `tls.CertificateFiles` or, in ``--dry``, `tls.PlannedCertificate`
      (`server_certificate`), or None
    """
    if (certificate is None) != (settings.funasr_tls == "off"):
        raise DeployError(f"{settings.host}: funasr_tls = {settings.funasr_tls!r} needs "
                          f"{'a' if certificate is None else 'no'} server certificate")
    hotwords_text = render_hotwords(settings)
    digests = {"hotwords": sha256_text(hotwords_text)}
    if certificate:
        cert, key = certificate.contents()
        digests["tls"] = sha256_text(sha256_bytes(cert) + sha256_bytes(key))
    return hotwords_text, digests


def compose_with_digest(settings, digests):
    """compose.yaml text and its ``config`` digest (sha256 of the file rendered without it)."""
    return rendered_with_digest(lambda config: render_compose(
        settings, {**digests, "config": config} if config else digests))


def release_files(settings, cached_models, certificate):
    """The files of a host's release and the config digest its containers will carry.

    + settings: the host's `Settings`
    + cached_models: the host's `CachedModel` items (their digests are in the config)
    + certificate: the host's `tls.CertificateFiles` (`server_certificate`), or None

    Returns ``(files, config_sha256)``; ``files`` are ``(path, content, mode)`` for
    hotwords.txt, TLS files and compose.yaml (last). The key's content is a
    ``HiddenValue``, so it shows nowhere pyinfra prints operation arguments.
    """
    base = settings.funasr_dir
    hotwords_text, digests = service_inputs(settings, certificate)
    digests["models"] = sha256_text("".join(sorted(m.manifest_sha256 for m in cached_models)))
    compose_text, config_sha256 = compose_with_digest(settings, digests)
    files = [(f"{base}/hotwords.txt", hotwords_text, "644")]
    if certificate:
        cert, key = certificate.contents()
        files += [(f"{base}/ssl/server.crt", cert, "644"),
                  (f"{base}/ssl/server.key", HiddenValue(key), "600")]
    files.append((f"{base}/compose.yaml", compose_text, "644"))
    return files, config_sha256


def docker_gpus_value(settings, gpus):
    """``(docker run --gpus value, how many GPUs it gives)`` for the host's reservation."""
    wanted = settings.funasr_gpus
    if wanted == "all":
        return "all", len(gpus)
    if isinstance(wanted, int):
        return str(wanted), wanted
    return f'"device={",".join(wanted)}"', len(wanted)


@dataclass(frozen=True)
class Staged:
    """What `funasr_service` staged that the host's wave needs to know, as callables
    true at execution time: the image changed (pulled or loaded in this run), the GPU
    server's export copy was made in this run (its next start exports first)."""

    image_changed: object = lambda: False
    exporting: object = lambda: False


@deploy("FunASR service")
def funasr_service(settings, delivery, cached_models, registry_password=""):
    """
    Stage what a release needs on the host, without touching the running server: the
    service directories, the models and the image (pulled or loaded before any wave, so
    a server's outage never includes a transfer).

    + settings: the host's `Settings`
    + delivery: an `funasr_fleet.images.ImageTarball` (tarball delivery) or None (pull)
    + cached_models: `funasr_fleet.models.CachedModel` items for the host's model set
    + registry_password: registry password for pull (kept hidden)

    Returns the `Staged` callables for `rollout.funasr_release`.
    """
    base = settings.funasr_dir
    managed_paths(name="FunASR service directories",
                  directories=[(base, "755"), (f"{base}/models", "755"), (f"{base}/ssl", "700")])
    models_seeded(name="FunASR models seeded", models_dir=f"{base}/models",
                  cached_models=cached_models,
                  ciphers=settings.funasr_models_ssh_ciphers)
    if delivery is None:
        image = image_pulled(name=f"FunASR image {settings.image}", image=settings.image,
                             username=settings.funasr_registry_username,
                             password=HiddenValue(registry_password))
    else:
        image = image_loaded(name=f"FunASR image {settings.image} (tarball)",
                             tarball=delivery)
    export = gpu_export(settings)
    copied = export and gpu_export_copied(
        name="GPU server's writable model copy (TorchScript export)", export=export,
        image=settings.image)
    return Staged(image_changed=image.did_change, exporting=lambda: bool(copied and copied.did_change()))


def gpus_checked(settings, gpus, label, go, changed):
    """In the host's wave, on GPU profiles with ``nvidia_verify_in_container``: a
    container started from the image lists the GPUs the server gets (``nvidia-smi -L``),
    when ``changed()`` (the engine or the image changed in this run; a no-op converge
    starts no container)."""
    if not (settings.profile.gpu and settings.nvidia_verify_in_container):
        return
    value, expected = docker_gpus_value(settings, gpus)
    gpus_visible(name=f"{label}: GPUs visible in a container (nvidia-smi -L)",
                 image=settings.image, gpus=value, expected=expected,
                 _if=lambda: go() and changed())
