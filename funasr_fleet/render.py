"""
Rendering: Settings -> the text of the files a host gets.

Python decides every value (this module builds the template contexts); the Jinja
templates in templates/ only lay them out. Each rendered file is parsed on the
control node (YAML, JSON) before it can be uploaded, so a template that renders an
invalid file fails here, naming the template, not on a host.
"""

import functools
import ipaddress
import json
import re
from dataclasses import dataclass
from pathlib import Path

import jinja2
import yaml

from .catalog import BIN_DIR
from .digest import sha256_text
from .errors import DeployError

# The repository's templates/ (funasr_fleet/templates links to it), shipped inside the package.
TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"

CONTAINER_PORT = 10095
CONTAINER_MODELS_DIR = "/workspace/models"
CONTAINER_HOTWORDS = "/workspace/resources/hotwords.txt"
CONTAINER_SSL_DIR = "/workspace/ssl"
# The GPU server's writable ASR model copy (see `GpuExport`), and where such copies live
# below funasr_dir on the host.
CONTAINER_EXPORT_DIR = "/workspace/models-export"
EXPORTS_DIR = "exports"
# The nftables table the firewall owns (nothing else of the host's ruleset is touched).
FIREWALL_TABLE = "inet funasr_fleet"


@functools.lru_cache(maxsize=None)
def _environment(templates_dir):
    """The Jinja environment of a templates directory, made once per run: it keeps each
    compiled template (and reloads one whose file changed), so rendering every host's
    files does not compile the templates again for each."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )


def render_template(name, context, templates_dir=TEMPLATES_DIR):
    """Render ``templates/<name>`` with ``context`` (undefined names are errors).

    + name: template file name, e.g. ``compose.yaml.j2``
    + context: dict of values the template lays out
    + templates_dir: where the templates are (default: the repository's templates/)
    """
    try:
        return _environment(str(templates_dir)).get_template(name).render(**context)
    except jinja2.TemplateError as error:
        raise DeployError(f"template {templates_dir / name} failed to render: {error}") from error


@dataclass(frozen=True)
class GpuExport:
    """The writable per-host copy of a ``-pytorch`` ASR revision the GPU server exports
    its TorchScript model into (the download tool writes into the model path itself:
    runtime_sdk_download_tool.py:23-55; no server flag moves it).

    + source: the seeded read-only revision on the host (``<funasr_dir>/models/<dirname>``)
    + directory: the copy, ``<funasr_dir>/exports/<key>``, mounted read-write
    + key: ``<owner>/<name>@<revision>+<blade|torchscript>-<image digest>``: made once per
      model revision, ``--bladedisc`` and image, kept for restarts and rollbacks
    + weights: the file the first start exports (funasr-wss-server.cpp:299-304)
    """

    source: str
    directory: str
    key: str
    weights: str


def gpu_export(settings):
    """The host's `GpuExport`, or None when its profile runs no GPU server."""
    spec = settings.funasr_models.get("asr")
    if not settings.profile.gpu or spec is None:
        return None
    variant = "blade" if settings.funasr_gpu_bladedisc else "torchscript"
    key = f"{spec.dirname}+{variant}-{sha256_text(settings.image)[:12]}"
    return GpuExport(source=f"{settings.funasr_dir}/models/{spec.dirname}",
                     directory=f"{settings.funasr_dir}/{EXPORTS_DIR}/{key}", key=key,
                     weights="model_blade.torchscript" if settings.funasr_gpu_bladedisc
                     else "model.torchscript")


def _flag(value):
    return "true" if value else "false"


def server_command(settings):
    """The server's command line (a list) for the host's profile, models, threads and TLS.

    Every model role the server knows is given: a seeded model as its absolute path
    under /workspace/models (it exists, so the server loads it locally and never tries to
    download), a role that is off as ``""`` (the servers' defaults are ModelScope ids,
    e.g. ``--lm-dir damo/speech_ngram_lm_zh-cn-ai-wesp-fst``, funasr-wss-server-2pass.cpp:128,
    which a server without network or with read-only models cannot fetch: it exits).
    The GPU server gets ``--gpu`` and its ASR model from the writable export copy.
    """
    profile = settings.profile
    quantize = _flag(settings.funasr_quantize)
    export = gpu_export(settings)
    command = [f"./{profile.binary}", "--download-model-dir", CONTAINER_MODELS_DIR]
    for role, option in profile.model_roles.items():
        spec = settings.funasr_models.get(role)
        path = ("" if spec is None else CONTAINER_EXPORT_DIR if export and role == "asr"
                else f"{CONTAINER_MODELS_DIR}/{spec.dirname}")
        command += [option, path]
    command += [
        "--quantize", quantize,
        "--vad-quant", quantize,
        "--punc-quant", quantize,
        "--listen-ip", "0.0.0.0",
        "--port", str(CONTAINER_PORT),
        "--io-thread-num", str(settings.funasr_io_threads),
        "--decoder-thread-num", str(settings.funasr_decoder_threads),
        "--model-thread-num", str(settings.funasr_model_threads),
        "--hotword", CONTAINER_HOTWORDS,
        "--fst-inc-wts", str(settings.funasr_fst_inc_wts),
    ]
    if profile.gpu:
        command += ["--gpu", "--bladedisc", _flag(settings.funasr_gpu_bladedisc),
                    "--batch-size", str(settings.funasr_gpu_batch_size)]
    if settings.funasr_tls == "off":
        command += ["--certfile", "", "--keyfile", ""]
    else:
        command += ["--certfile", f"{CONTAINER_SSL_DIR}/server.crt",
                    "--keyfile", f"{CONTAINER_SSL_DIR}/server.key"]
    return command


def port_mapping(settings, port):
    """``ADDRESS:PORT:10095`` for compose (IPv6 addresses in brackets)."""
    address = settings.funasr_bind_address
    if ":" in address:
        address = f"[{address}]"
    return f"{address}:{port}:{CONTAINER_PORT}"


def gpu_reservation(gpus):
    """compose's ``deploy.resources.reservations.devices`` entry for an instance's GPUs
    (``"all"``, a count or a tuple of ids), or None for a CPU instance."""
    if gpus is None:
        return None
    device = {"driver": "nvidia", "capabilities": ["gpu"]}
    if isinstance(gpus, tuple):
        device["device_ids"] = list(gpus)
    else:
        device["count"] = gpus
    return device


def compose_context(settings, digests):
    """Template context of compose.yaml.

    + settings: the host's `Settings`
    + digests: dict of input digests (``hotwords``, ``models``, ``tls``) written as labels,
      so that a changed input changes the compose file and compose recreates the container
    """
    volumes = [
        f"{settings.funasr_dir}/models:{CONTAINER_MODELS_DIR}:ro",
        f"{settings.funasr_dir}/hotwords.txt:{CONTAINER_HOTWORDS}:ro",
    ]
    if settings.funasr_tls != "off":
        volumes.append(f"{settings.funasr_dir}/ssl:{CONTAINER_SSL_DIR}:ro")
    export = gpu_export(settings)
    if export:
        volumes.append(f"{export.directory}:{CONTAINER_EXPORT_DIR}:rw")
    labels = {"io.funasr-fleet.version": settings.funasr_version,
              "io.funasr-fleet.profile": settings.funasr_profile}
    labels.update({f"io.funasr-fleet.{name}-sha256": digest
                   for name, digest in sorted(digests.items())})
    return {
        "host": settings.host,
        "project": settings.funasr_project,
        "services": [{"name": instance.service,
                      "port_mapping": port_mapping(settings, instance.port),
                      "gpu_devices": gpu_reservation(instance.gpus)}
                     for instance in settings.instances],
        "image": settings.image,
        "restart_policy": settings.funasr_restart_policy,
        "init": settings.funasr_container_init,
        "working_dir": BIN_DIR,
        "command": server_command(settings),
        "volumes": volumes,
        "labels": labels,
        "memory_limit": settings.funasr_memory_limit,
        "cpus": settings.funasr_cpus,
        "log_max_size": settings.docker_log_max_size,
        "log_max_file": settings.docker_log_max_file,
    }


# PyYAML's libyaml parser where PyYAML was built with it (its wheels are): the same safe
# loading, ten times faster; the check runs twice per host.
YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def render_compose(settings, digests, templates_dir=TEMPLATES_DIR):
    """Render compose.yaml and check it parses as YAML with the expected service.

    **Example:**

    .. code:: python

        text = render_compose(settings, {"hotwords": sha256_text(hotwords_text)})
    """
    text = render_template("compose.yaml.j2", compose_context(settings, digests), templates_dir)
    try:
        parsed = yaml.load(text, Loader=YAML_LOADER)
    except yaml.YAMLError as error:
        raise DeployError(
            f"template {templates_dir / 'compose.yaml.j2'} rendered invalid YAML for "
            f"{settings.host}: {error}",
        ) from error
    wanted = [instance.service for instance in settings.instances]
    if not isinstance(parsed, dict) or sorted(parsed.get("services") or {}) != sorted(wanted):
        raise DeployError(
            f"template {templates_dir / 'compose.yaml.j2'} did not render the services "
            f"{', '.join(wanted)} for {settings.host}",
        )
    return text


def render_hotwords(settings, templates_dir=TEMPLATES_DIR):
    """Render the merged hotwords as FunASR's hotword file (sorted ``phrase weight`` lines)."""
    return render_template("hotwords.txt.j2",
                           {"hotwords": sorted(settings.funasr_hotwords.items())}, templates_dir)


# What sets each key `daemon_config` writes, to name it when Docker does not start.
DAEMON_KNOBS = {"log-driver": "funasr-fleet", "log-opts": "docker_log_max_size, docker_log_max_file",
                "live-restore": "docker_live_restore", "data-root": "docker_data_root",
                "registry-mirrors": "docker_registry_mirrors",
                "runtimes": "funasr_profile (the nvidia runtime of GPU profiles)"}


def daemon_config(settings):
    """The dict daemon.json holds: log rotation, live-restore, data-root, registry mirrors,
    the nvidia runtime."""
    config = {
        "log-driver": "json-file",
        "log-opts": {"max-size": settings.docker_log_max_size,
                     "max-file": str(settings.docker_log_max_file)},
    }
    if settings.docker_live_restore:
        # Containers keep running while dockerd restarts (a daemon.json change, an engine
        # upgrade); incompatible with swarm mode, hence the knob.
        config["live-restore"] = True
    if settings.docker_data_root:
        config["data-root"] = settings.docker_data_root
    if settings.docker_registry_mirrors:
        config["registry-mirrors"] = list(settings.docker_registry_mirrors)
    if settings.profile.gpu:
        # What `nvidia-ctk runtime configure --runtime=docker` would add: rendered here so
        # daemon.json has one owner and a converged host stays converged.
        config["runtimes"] = {"nvidia": {"path": "nvidia-container-runtime", "args": []}}
    return config


def render_daemon_json(settings, templates_dir=TEMPLATES_DIR):
    """Render /etc/docker/daemon.json and check it parses as JSON."""
    text = render_template("daemon.json.j2", {"daemon": daemon_config(settings)}, templates_dir)
    try:
        json.loads(text)
    except ValueError as error:
        raise DeployError(
            f"template {templates_dir / 'daemon.json.j2'} rendered invalid JSON: {error}",
        ) from error
    return text


def firewall_context(settings, config_sha256=None):
    """Template context of the firewall ruleset (templates/firewall.nft.j2).

    + settings: the host's `Settings` (``funasr_allow_from`` not empty)
    + config_sha256: the digest the table carries as comment (None: no comment, for
      computing it; see `funasr_fleet.digest.rendered_with_digest`)

    The allowed networks are split by family and collapsed (nftables refuses overlapping
    intervals in a set); the ports are every instance's published port.
    """
    networks = [ipaddress.ip_network(network) for network in settings.funasr_allow_from]
    return {
        "host": settings.host,
        "table": FIREWALL_TABLE,
        "comment": f"funasr-fleet config-sha256 {config_sha256}" if config_sha256 else None,
        "ports": [instance.port for instance in settings.instances],
        "allowed_v4": [str(network) for network in ipaddress.collapse_addresses(
            network for network in networks if network.version == 4)],
        "allowed_v6": [str(network) for network in ipaddress.collapse_addresses(
            network for network in networks if network.version == 6)],
    }


def render_firewall(settings, config_sha256=None, templates_dir=TEMPLATES_DIR):
    """Render the nftables file that replaces table ``inet funasr_fleet``, and check its shape.

    The file starts with ``table inet funasr_fleet {}`` and ``delete table inet
    funasr_fleet`` so that ``nft -f`` swaps that one table atomically and leaves every
    other table (Docker's) alone; a rendering without that start, with unbalanced
    braces or with a ``flush ruleset`` fails here, naming the template.

    **Example:**

    .. code:: python

        text, digest = rendered_with_digest(lambda digest: render_firewall(settings, digest))
    """
    text = render_template("firewall.nft.j2", firewall_context(settings, config_sha256), templates_dir)
    statements = [line.strip() for line in text.splitlines()
                  if line.strip() and not line.lstrip().startswith("#")]
    code = "\n".join(statements)
    replaces = statements[:2] == [f"table {FIREWALL_TABLE} {{}}", f"delete table {FIREWALL_TABLE}"]
    if not replaces or code.count("{") != code.count("}") or re.search(r"\bflush\s+ruleset", code):
        raise DeployError(
            f"template {templates_dir / 'firewall.nft.j2'} must start with 'table "
            f"{FIREWALL_TABLE} {{}}' and 'delete table {FIREWALL_TABLE}', balance its braces and "
            f"never flush the ruleset (rendering for {settings.host})")
    return text


def render_firewall_unit(ruleset, templates_dir=TEMPLATES_DIR):
    """Render the systemd unit that loads the firewall ruleset file ``ruleset`` at boot.

    **Example:**

    .. code:: python

        render_firewall_unit("/etc/funasr-fleet/firewall.nft")
    """
    return render_template("funasr-fleet-firewall.service.j2",
                           {"ruleset": ruleset, "table": FIREWALL_TABLE}, templates_dir)


def balancer_context(host, balancer, down):
    """Template context of the load balancer's nginx stream configuration."""
    return {"host": host, "profile": balancer.profile, "port": balancer.port,
            "drain_timeout": int(balancer.drain_timeout),
            "servers": [{"host": backend.host, "address": backend.server,
                         "down": backend.host in down} for backend in balancer.backends]}


def render_balancer(host, balancer, down=(), templates_dir=TEMPLATES_DIR):
    """nginx stream configuration of ``balancer`` with the servers of hosts ``down`` drained.

    + host: the balancer host's name (for the header)
    + balancer: a `funasr_fleet.balancer.Balancer`
    + down: names of hosts whose servers take no new sessions

    **Example:**

    .. code:: python

        render_balancer("lb-1", balancer, down={"asr-2"})
    """
    return render_template("nginx-stream.conf.j2", balancer_context(host, balancer, down), templates_dir)
