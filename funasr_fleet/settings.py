"""
Settings: the one validated, typed view of a host's data.

Every knob is listed in `KNOBS` (its checker) and documented, with its default, in
group_data/all.py. `load_settings` builds a host's `Settings` once; `check_inventory`
builds them for every host and raises one `SettingsError` listing every problem,
each naming the host, the key, the bad value, where it came from and the fix.
deploy.py calls it before any operation, so one bad value on one host stops the
run before any host is touched.
"""

import difflib
import functools
import ipaddress
import os
import posixpath
import re
import socket
from dataclasses import dataclass
from pathlib import Path

from . import catalog, hotwords, modelset, tls
from .errors import SettingsError
from .pyinfra_internals import pyinfra_data_keys

# --------------------------------------------------------------------------- checkers
# Each checker takes the raw value and returns the typed value or raises
# ValueError("<what is wrong>; <fix>").


def _choice(*choices):
    def check(value):
        if value not in choices:
            raise ValueError(f"must be one of {', '.join(map(repr, choices))}")
        return value

    return check


def _boolean(value):
    if not isinstance(value, bool):
        raise ValueError("must be True or False")
    return value


def _integer(low, high):
    def check(value):
        if isinstance(value, str) and value.strip().isdigit():  # --data gives strings
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"must be an integer from {low} to {high}")
        return value

    return check


def _number(low, high):
    def check(value):
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"must be a number from {low} to {high}") from None
        if isinstance(value, bool) or not low <= number <= high:
            raise ValueError(f"must be a number from {low} to {high}")
        return number

    return check


def _text(pattern=r".*", hint="a string"):
    regex = re.compile(pattern)

    def check(value):
        if not isinstance(value, str) or not regex.fullmatch(value):
            raise ValueError(f"must be {hint}")
        return value

    return check


# Directories a deploy must never take as its own: writing compose.yaml, models/ or
# Docker's data there (or below, for the first group) would damage the host.
_SYSTEM_TREES = ("/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/proc",
                 "/run", "/sbin", "/sys", "/tmp", "/usr", "/var/tmp", "/var/run", "/var/lock")
_SYSTEM_DIRS = ("/", "/home", "/media", "/mnt", "/opt", "/root", "/srv", "/var", "/var/lib",
                "/var/log", "/var/cache", "/var/lib/docker")


def _checked_path(path, example, trees=_SYSTEM_TREES):
    """``path`` if it is absolute, normalised, free of whitespace and neither a system
    directory nor inside one of ``trees``; ValueError with the fix otherwise."""
    if not path.startswith("/") or posixpath.normpath(path) != path or path.startswith("//"):
        raise ValueError(f"must be an absolute, normalised path (no '..', '.', '//' or trailing "
                         f"'/'), e.g. {example}")
    if re.search(r"\s", path):
        raise ValueError(f"must not contain whitespace (compose and shell commands split on it), e.g. "
                         f"{example}")
    if path in _SYSTEM_DIRS + _SYSTEM_TREES or any(path.startswith(tree + "/") for tree in trees):
        raise ValueError(f"{path} is a system directory; use a directory of its own, e.g. {example}")
    return path


def _absolute_path(value):
    """A directory on the hosts (``funasr_dir``)."""
    if not isinstance(value, str):
        raise ValueError("must be an absolute path, e.g. /opt/funasr")
    return _checked_path(value, "/opt/funasr")


def _data_root(value):
    """'' (Docker's default) or a directory on the hosts for Docker's data-root."""
    if value == "":
        return ""
    if not isinstance(value, str):
        raise ValueError("must be '' or an absolute path, e.g. /data/docker")
    return _checked_path(value, "/data/docker")


def _control_node_path(value):
    """A path on the control node, ``~`` expanded, relative paths from the current dir."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be a path on the control node, e.g. ~/.cache/funasr-fleet")
    return str(Path(os.path.expanduser(value)).resolve())


def _local_path(value):
    """A directory on the control node (caches, the TLS directory)."""
    path = _control_node_path(value)
    if re.search(r"\s", value):
        raise ValueError("must not contain whitespace, e.g. ~/.cache/funasr-fleet")
    # The control node's own layout is the operator's: only the system directories
    # themselves are refused (a checkout under /tmp may keep its caches there).
    return _checked_path(path, "~/.cache/funasr-fleet", trees=())


def _url_list(value):
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise ValueError("must be a list of http(s) URLs, e.g. ['https://mirror.example.com']")
    for url in value:
        # What dockerd accepts at start (moby registry.ValidateMirror): http(s), no user
        # info, query or fragment. `dockerd --validate` does not check mirrors at all.
        if not re.fullmatch(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[^\s?#@]*)?", url):
            raise ValueError(f"entry {url!r} is not an http(s) URL without user, query or "
                             "fragment; write it like 'https://mirror.example.com'")
    return tuple(value)


def _optional_local_file(value):
    if value in ("", None):
        return ""
    path = _control_node_path(value)
    if not Path(path).is_file():
        raise ValueError(f"file {path} does not exist on the control node")
    return path


def _ip_address(value):
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ValueError("must be an IP address, e.g. 0.0.0.0 or 127.0.0.1") from None


def _networks(value):
    if not isinstance(value, (list, tuple)):
        raise ValueError("must be a list of IP addresses or networks, e.g. ['10.0.0.0/8', "
                         "'192.0.2.7', '2001:db8::/32'], or [] for no firewall")
    return tuple(dict.fromkeys(_network(entry) for entry in value))


def _network(entry):
    """One allow-list entry as a network (``'192.0.2.7'`` -> ``'192.0.2.7/32'``)."""
    example = "write it like '192.0.2.7', '10.0.0.0/8' or '2001:db8::/32'"
    if not isinstance(entry, str):
        raise ValueError(f"entry {entry!r} is not a string; {example}")
    try:
        return str(ipaddress.ip_network(entry))
    except ValueError:
        pass
    try:
        network = ipaddress.ip_network(entry, strict=False)
    except ValueError:
        raise ValueError(f"entry {entry!r} is not an IP address or network; {example}") from None
    raise ValueError(f"entry {entry!r} has host bits set; write the network {str(network)!r} "
                     "(or the address alone)")


def _san_list(value):
    if not isinstance(value, (list, tuple)):
        raise ValueError("must be a list of DNS names or IP addresses, e.g. ['asr.example.com', "
                         "'192.0.2.7']")
    names = []
    for entry in value:
        try:
            names.append(tls.san_name(entry))
        except ValueError as error:
            raise ValueError(f"entry {error}") from None
    return tuple(names)


def read_secret(path):
    """The secret a control-node file holds: its text without the trailing newline.

    + path: the file, e.g. ``funasr_registry_password_file``

    Raises ValueError naming the path and the fix, never the content, when the file
    cannot be read or is empty.

    **Example:**

    .. code:: python

        password = read_secret("/root/.config/funasr-fleet/registry-password")
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        reason = "not UTF-8 text"
    except OSError as error:
        reason = error.strerror or type(error).__name__
    else:
        if text.rstrip("\r\n"):
            return text.rstrip("\r\n")
        reason = "empty"
    raise ValueError(f"cannot read a password from {path} on the control node ({reason}); make it a "
                     "readable file holding the password (mode 600, owned by the user running "
                     "pyinfra), or set it to ''")


def _secret_file(value):
    """'' or a control-node file holding a secret (read once here to check it)."""
    if value in ("", None):
        return ""
    path = _control_node_path(value)
    read_secret(path)
    return path


_UNITS = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


def _size(low, high):
    """A Docker size (``'20m'``, ``'6g'``) from ``low`` to ``high`` (same notation)."""
    def amount(text):
        return int(text[:-1]) * _UNITS[text[-1]]

    def check(value):
        if not isinstance(value, str) or not re.fullmatch(r"[1-9][0-9]*[kmg]", value) \
                or not amount(low) <= amount(value) <= amount(high):
            raise ValueError(f"must be a size like '10m', '512k' or '6g', from {low} to {high}")
        return value

    return check


def _version(value):
    if not isinstance(value, str) or not re.fullmatch(r"[0-9][0-9A-Za-z.+_-]*", value):
        raise ValueError("must be an image version such as '0.1.13'")
    return value


def _env_var_name(value):
    if value and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
        raise ValueError("must be the NAME of an environment variable (the secret stays out of data)")
    return value


def _gpus(value):
    if value == "all":
        return value
    if isinstance(value, str) and value.strip().isdigit():  # --data gives strings
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 64:
        return value
    if isinstance(value, (list, tuple)) and value and all(
            isinstance(v, str) and re.fullmatch(r"[0-9]+|GPU-[0-9a-fA-F-]+", v) for v in value):
        return tuple(value)
    raise ValueError("must be 'all', a GPU count from 1 to 64, or a non-empty list of GPU "
                     "indexes or UUIDs as strings, e.g. ['0', '1']")


def _canary(value):
    if isinstance(value, str) and value.isdigit():  # --data gives strings
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
        return value
    raise ValueError("must be 0 (no canary), a count of first hosts, or a group name")


def _waves(value):
    if isinstance(value, (int, str)):
        value = [value]
    if not isinstance(value, (list, tuple)) or not value:
        raise ValueError("must be a list of wave sizes, counts or percentages, e.g. [1, '25%']")
    sizes = []
    for size in value:
        if isinstance(size, str) and size.isdigit():
            size = int(size)
        if isinstance(size, int) and not isinstance(size, bool) and size >= 1:
            sizes.append(size)
        elif isinstance(size, str) and re.fullmatch(r"([1-9][0-9]?|100)%", size):
            sizes.append(size)
        else:
            raise ValueError(f"wave size {size!r} must be a count >= 1 or a percentage like '25%'")
    return tuple(sizes)


def _port_map(value):
    if not isinstance(value, dict):
        raise ValueError("must be a dict {service port: port the control node probes}, e.g. {10095: 32772}")
    ports = {}
    for key, port in value.items():
        try:
            key, port = int(key), int(port)
        except (TypeError, ValueError):
            raise ValueError(f"entry {key!r}: {port!r} is not a port number pair") from None
        if not (1 <= key <= 65535 and 1 <= port <= 65535):
            raise ValueError(f"entry {key}: {port} has a port outside 1-65535")
        ports[key] = port
    return ports


def _layers_passthrough(value):
    return value


# --------------------------------------------------------------------------- the schema

KNOBS = {
    # Docker Engine
    "docker_source": _choice("distro", "docker-repo"),
    "docker_repo_url": _text(r"https?://\S+", "an http(s) URL"),
    "docker_repo_key_fingerprint": _text(r"[0-9A-F]{40}", "a 40-hex-digit uppercase GPG fingerprint"),
    "docker_version": _text(r"[0-9A-Za-z.:~+_-]*", "a Debian package version or ''"),
    "docker_data_root": _data_root,
    "docker_log_max_size": _size("100k", "10g"),
    "docker_log_max_file": _integer(1, 100),
    "docker_registry_mirrors": _url_list,
    "docker_live_restore": _boolean,
    # NVIDIA (GPU profiles)
    "nvidia_repo_url": _text(r"(https?|file)://\S+", "an http(s) URL (file:// for a local mirror)"),
    "nvidia_repo_key_fingerprint": _text(r"[0-9A-F]{40}", "a 40-hex-digit uppercase GPG fingerprint"),
    "nvidia_toolkit_version": _text(r"[0-9A-Za-z.:~+_-]*", "a Debian package version or ''"),
    "funasr_gpus": _gpus,
    "funasr_instance_per_gpu": _boolean,
    "nvidia_verify_in_container": _boolean,
    # FunASR image
    "funasr_profile": _choice(*catalog.PROFILES),
    "funasr_version": _version,
    "funasr_allow_unlisted_tag": _boolean,
    "funasr_image_tag": _text(r"([A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?", "'' or a Docker image tag"),
    "funasr_image_registry": _text(r"([\w.-]+(:[0-9]+)?)?", "a registry host[:port] or ''"),
    "funasr_image_repository": _text(r"[a-z0-9]+([._/-][a-z0-9]+)*", "an image repository name"),
    "funasr_image_delivery": _choice("pull", "tarball"),
    "funasr_registry_username": _text(r"\S*", "a user name or ''"),
    "funasr_registry_password_env": _env_var_name,
    "funasr_registry_password_file": _secret_file,
    "funasr_image_cache_dir": _local_path,
    # Service
    "funasr_dir": _absolute_path,
    "funasr_project": _text(r"[a-z0-9][a-z0-9_-]*", "a compose project name (lowercase)"),
    "funasr_bind_address": _ip_address,
    "funasr_port": _integer(1, 65535),
    "funasr_io_threads": _integer(1, 256),
    "funasr_decoder_threads": _integer(1, 256),
    "funasr_model_threads": _integer(1, 256),
    "funasr_quantize": _boolean,
    "funasr_fst_inc_wts": _integer(0, 100),
    "funasr_memory_limit": _size("256m", "4096g"),
    "funasr_cpus": _number(0, 1024),
    "funasr_restart_policy": _choice("always", "unless-stopped", "on-failure"),
    "funasr_container_init": _boolean,
    "funasr_gpu_bladedisc": _boolean,
    "funasr_gpu_batch_size": _integer(1, 1024),
    "funasr_gpu_export_timeout": _number(1, 7200),
    "funasr_tls": _choice("off", "files", "generated"),
    "funasr_tls_cert": _optional_local_file,
    "funasr_tls_key": _optional_local_file,
    "funasr_tls_dir": _local_path,
    "funasr_tls_sans": _san_list,
    "funasr_allow_from": _networks,
    # Models and hotwords (layered: all < group < host < --data)
    "funasr_models": _layers_passthrough,
    "funasr_models_cache_dir": _local_path,
    "funasr_models_endpoint": _text(r"https?://[^\s/]+(/\S*)?", "an http(s) URL of a ModelScope hub or mirror"),
    "funasr_models_ssh_ciphers": _text(r"auto|([a-z0-9@.-]+(,[a-z0-9@.-]+)*)?",
                                       "'auto', '' (ssh's own choice) or a comma-separated "
                                       "list of ssh ciphers, e.g. aes128-gcm@openssh.com"),
    "funasr_hotwords": _layers_passthrough,
    # Rollout (fleet-wide: every host must agree)
    "funasr_canary": _canary,
    "funasr_waves": _waves,
    # Load balancer (zero-downtime rollouts)
    "funasr_lb_group": _text(r"[A-Za-z0-9_][A-Za-z0-9_.-]*", "an inventory group name"),
    "funasr_lb_port": _integer(1, 65535),
    "funasr_lb_backend_address": _text(r"[A-Za-z0-9_.:\[\]-]*", "a host name or address, or '' for the SSH host"),
    "funasr_lb_drain_timeout": _number(1, 3600),
    # Health gate
    "funasr_probe_address": _text(r"\S*", "a host name or address, or '' for the SSH host"),
    "funasr_probe_ports": _port_map,
    "funasr_probe_timeout": _number(1, 600),
    "funasr_start_timeout": _number(1, 3600),
}

LAYERED = ("funasr_models", "funasr_hotwords")
# Knobs that describe the whole fleet, not a host: every host must have the same value.
FLEET_WIDE = ("funasr_canary", "funasr_waves", "funasr_lb_group")


SERVICE = "funasr"
BALANCER = "balancer"


@dataclass(frozen=True)
class Instance:
    """One FunASR server container of a host.

    + service: compose service name (``funasr``, or ``funasr-gpu<id>`` per GPU)
    + port: host port it is published on
    + gpus: what it reserves: ``"all"``, a count, a tuple of GPU ids, or None (CPU)
    + probe_url: where the control node probes it
    """

    service: str
    port: int
    gpus: object
    probe_url: str


@dataclass(frozen=True)
class Settings:
    """A host's validated settings; attribute names are the data keys (see group_data/all.py).

    Derived values (`profile`, `image`, `models`, `hotwords`, ...) are computed here once,
    so operations and templates never re-derive them.
    """

    host: str
    docker_source: str
    docker_repo_url: str
    docker_repo_key_fingerprint: str
    docker_version: str
    docker_data_root: str
    docker_log_max_size: str
    docker_log_max_file: int
    docker_registry_mirrors: tuple
    docker_live_restore: bool
    nvidia_repo_url: str
    nvidia_repo_key_fingerprint: str
    nvidia_toolkit_version: str
    funasr_gpus: object
    funasr_instance_per_gpu: bool
    nvidia_verify_in_container: bool
    funasr_profile: str
    funasr_version: str
    funasr_allow_unlisted_tag: bool
    funasr_image_tag: str
    funasr_image_registry: str
    funasr_image_repository: str
    funasr_image_delivery: str
    funasr_registry_username: str
    funasr_registry_password_env: str
    funasr_registry_password_file: str
    funasr_image_cache_dir: str
    funasr_dir: str
    funasr_project: str
    funasr_bind_address: str
    funasr_port: int
    funasr_io_threads: int
    funasr_decoder_threads: int
    funasr_model_threads: int
    funasr_quantize: bool
    funasr_fst_inc_wts: int
    funasr_memory_limit: str
    funasr_cpus: float
    funasr_restart_policy: str
    funasr_container_init: bool
    funasr_gpu_bladedisc: bool
    funasr_gpu_batch_size: int
    funasr_gpu_export_timeout: float
    funasr_tls: str
    funasr_tls_cert: str
    funasr_tls_key: str
    funasr_tls_dir: str
    funasr_tls_sans: tuple
    funasr_allow_from: tuple
    funasr_models: dict
    funasr_models_cache_dir: str
    funasr_models_endpoint: str
    funasr_models_ssh_ciphers: str
    funasr_hotwords: dict
    funasr_canary: object
    funasr_waves: tuple
    funasr_lb_group: str
    funasr_lb_port: int
    funasr_lb_backend_address: str
    funasr_lb_drain_timeout: float
    funasr_probe_address: str
    funasr_probe_ports: dict
    funasr_probe_timeout: float
    funasr_start_timeout: float
    ssh_hostname: str
    groups: tuple = ()

    @property
    def is_balancer(self):
        """This host runs the fleet's TCP load balancer (it is in ``funasr_lb_group``), not a server."""
        return self.funasr_lb_group in self.groups

    @property
    def balancer_address(self):
        """Where a load balancer reaches this host's servers."""
        return self.funasr_lb_backend_address or self.ssh_hostname

    @property
    def profile(self):
        return catalog.get_profile(self.funasr_profile)

    @property
    def image_tag(self):
        return self.funasr_image_tag or self.profile.tag(self.funasr_version)

    @property
    def image(self):
        """Full image reference, e.g. ``registry.cn-hangzhou.aliyuncs.com/funasr_repo/funasr:TAG``."""
        registry = f"{self.funasr_image_registry}/" if self.funasr_image_registry else ""
        return f"{registry}{self.funasr_image_repository}:{self.image_tag}"

    @property
    def instances(self):
        """The server instances of this host: one, or one per GPU (`Instance` items); on
        a load balancer host, the balancer's listener (service ``balancer``)."""
        if self.is_balancer:
            return (self._instance(BALANCER, self.funasr_lb_port, None),)
        if not self.funasr_instance_per_gpu:
            gpus = self.funasr_gpus if self.profile.gpu else None
            return (self._instance(SERVICE, self.funasr_port, gpus),)
        ids = (self.funasr_gpus if isinstance(self.funasr_gpus, tuple)
               else tuple(str(index) for index in range(self.funasr_gpus)))
        names = [f"{SERVICE}-gpu{gpu}" if gpu.isdigit() else f"{SERVICE}-{gpu.lower()}" for gpu in ids]
        return tuple(self._instance(name, self.funasr_port + offset, (gpu,))
                     for offset, (name, gpu) in enumerate(zip(names, ids)))

    def _instance(self, service, port, gpus):
        scheme = "wss" if self.funasr_tls != "off" else "ws"
        address = self.funasr_probe_address or self.ssh_hostname
        probe_port = self.funasr_probe_ports.get(port, port)
        return Instance(service=service, port=port, gpus=gpus,
                        probe_url=f"{scheme}://{address}:{probe_port}")

    @property
    def tls_sans(self):
        """The names a generated certificate holds: the inventory name, the SSH host, the
        probe address and ``funasr_tls_sans``, canonical (`tls.san_name`), without repeats."""
        names = (self.host, self.ssh_hostname, self.funasr_probe_address, *self.funasr_tls_sans)
        return tuple(dict.fromkeys(tls.san_name(name) for name in names if name))

    @property
    def registry_password(self):
        """The registry password, read now from ``funasr_registry_password_file`` or the
        environment variable ``funasr_registry_password_env`` names ('' if neither is set).

        A secret: hand it to operations as a ``pyinfra.api.HiddenValue``, never log it.
        """
        if self.funasr_registry_password_file:
            try:
                return read_secret(self.funasr_registry_password_file)
            except ValueError as error:
                raise SettingsError(f"{self.host}: funasr_registry_password_file: {error}") from None
        if self.funasr_registry_password_env:
            return os.environ.get(self.funasr_registry_password_env, "")
        return ""


# --------------------------------------------------------------------------- building


@dataclass(frozen=True)
class Problem:
    host: str
    key: str
    value: object
    source: str
    message: str

    def __str__(self):
        shown = repr(self.value)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        return f"{self.host}: {self.key} = {shown} (from {self.source}): {self.message}"


def data_layers(host):
    """The host's data layers, lowest precedence first, as ``(source, dict)`` pairs.

    + host: a pyinfra ``Host``

    Sources read like ``group_data/all.py``, ``group cpu``, ``host lab-1``, ``--data``,
    the names an operator looks for when a message points at a value.
    """
    inventory = host.inventory
    layers = [("group_data/all.py", inventory.get_data())]
    layers += [(f"group {group} (group_data/{group}.py or the inventory)",
                inventory.get_group_data(group)) for group in host.groups]
    layers.append((f"host {host.name} in the inventory", inventory.get_host_data(host.name)))
    layers.append(("--data on the command line", inventory.get_override_data()))
    return layers


def load_settings(host):
    """Build and return the host's `Settings`; raise `SettingsError` listing every problem.

    + host: a pyinfra ``Host`` (in deploy.py: ``from pyinfra import host``)

    **Example:**

    .. code:: python

        settings = load_settings(host)
        settings.image  # 'registry.cn-hangzhou.aliyuncs.com/funasr_repo/funasr:funasr-runtime-sdk-online-cpu-0.1.13'
    """
    settings, problems = _build(host)
    if problems:
        raise SettingsError(_report(problems))
    return settings


def check_inventory(inventory):
    """Validate every host of ``inventory``; raise one `SettingsError` listing all problems."""
    problems, fleet = [], {}
    for host in inventory:
        settings, host_problems = _build(host)
        problems += host_problems
        for key in FLEET_WIDE if settings else ():
            fleet.setdefault(key, {}).setdefault(getattr(settings, key), []).append(host)
    for key, values in fleet.items():
        # The most common value (ties: the one group_data/all.py gives) is the fleet's;
        # each host with another value is reported.
        default = KNOBS[key](inventory.get_data()[key]) if key in inventory.get_data() else None
        common = max(values, key=lambda value: (len(values[value]), value == default))
        for host in (host for value, hosts in values.items() if value != common for host in hosts):
            source, raw = _winning_value(data_layers(host), key)
            problems.append(Problem(host.name, key, raw, source,
                                    f"differs from the other hosts' {common!r}, but the rollout is "
                                    "fleet-wide; set it once, in group_data/all.py or with --data"))
    if problems:
        raise SettingsError(_report(problems))


def _report(problems):
    lines = "\n".join(f"  - {problem}" for problem in problems)
    return (
        f"invalid host data, nothing was changed on any host ({len(problems)} problem"
        f"{'s' if len(problems) != 1 else ''}):\n{lines}"
    )


def _build(host):
    layers = data_layers(host)
    problems = _unknown_keys(host.name, layers)
    values = {}
    for key, check in KNOBS.items():
        source, raw = _winning_value(layers, key)
        if source is None:
            problems.append(Problem(host.name, key, None, "nowhere",
                                    "missing; group_data/all.py defines every knob: run pyinfra "
                                    "from the repository root so it is loaded"))
            continue
        try:
            values[key] = check(raw)
        except ValueError as error:
            default = layers[0][1].get(key)
            hint = f" (group_data/all.py default: {default!r})" if default is not None and \
                key not in LAYERED else ""
            problems.append(Problem(host.name, key, raw, source, f"{error}{hint}"))
    problems += _derive(host, layers, values)
    if problems:
        return None, problems
    return Settings(host=host.name, ssh_hostname=host.data.get("ssh_hostname") or host.name,
                    groups=tuple(host.groups), **values), []


def _derive(host, layers, values):
    """Cross-key checks and layered merges; fills ``values`` in place, returns problems.

    Each check runs when the keys it reads are valid (invalid ones are already reported).
    """
    problems = []

    def problem(key, message):
        source, raw = _winning_value(layers, key)
        problems.append(Problem(host.name, key, raw, source, message))

    def valid(*keys):
        return all(key in values for key in keys)

    profile = catalog.get_profile(values["funasr_profile"]) if valid("funasr_profile") else None
    if profile and valid("funasr_version", "funasr_allow_unlisted_tag", "funasr_image_tag") and \
            not values["funasr_allow_unlisted_tag"]:
        key = "funasr_image_tag" if values["funasr_image_tag"] else "funasr_version"
        tag = values["funasr_image_tag"] or profile.tag(values["funasr_version"])
        if tag not in {profile.tag(version) for version in profile.versions}:
            problem(key, f"image tag {tag!r} is not a known {profile.name} image (known: "
                    f"{', '.join(profile.tag(v) for v in profile.versions)}); use a listed version, "
                    "or set funasr_allow_unlisted_tag = True if you built, mirrored or verified "
                    "this tag yourself")
    if profile:
        try:
            merged = modelset.merge_layers(_layer_values(layers, "funasr_models"))
            values["funasr_models"] = modelset.check_model_set(profile, merged.get(profile.name, {}))
        except ValueError as error:
            values.pop("funasr_models", None)
            problem("funasr_models", f"{error}")
    try:
        values["funasr_hotwords"] = hotwords.merge_layers(
            [hotwords.check_layer(layer) for layer in _layer_values(layers, "funasr_hotwords")])
    except ValueError as error:
        values.pop("funasr_hotwords", None)
        problem("funasr_hotwords", f"{error}")
    if profile and valid("funasr_models", "funasr_hotwords") and values["funasr_hotwords"] \
            and modelset.hotword_path(values["funasr_models"]) is None:
        problem("funasr_hotwords", modelset.hotwords_unusable_message(profile))
    if profile and valid("funasr_models", "funasr_version", "funasr_image_tag"):
        problems += _layout_problems(host, layers, profile, values)
    if valid("funasr_allow_from", "funasr_probe_address", "funasr_port") and values["funasr_allow_from"]:
        address = values["funasr_probe_address"] or host.data.get("ssh_hostname") or host.name
        source = probe_source_address(address, values["funasr_port"])
        if source and not source.is_loopback and not any(
                source in ipaddress.ip_network(network) for network in values["funasr_allow_from"]):
            problem("funasr_allow_from",
                    f"would block the health probe: this control node reaches {address} from "
                    f"{source}, which the list does not allow, so every gate would fail; add "
                    f"'{source}' (or its network) to funasr_allow_from, or probe from an allowed "
                    "address (funasr_probe_address)")
    if valid("funasr_tls", "funasr_tls_cert", "funasr_tls_key") and values["funasr_tls"] == "files" \
            and not (values["funasr_tls_cert"] and values["funasr_tls_key"]):
        problem("funasr_tls", "is 'files' but funasr_tls_cert or funasr_tls_key is empty; set both "
                "to the certificate and key files on the control node, or set funasr_tls = 'off'")
    if profile and valid("funasr_instance_per_gpu", "funasr_gpus") and values["funasr_instance_per_gpu"]:
        if not profile.gpu:
            problem("funasr_instance_per_gpu", f"is True but profile {profile.name!r} uses no GPU; "
                    "set it only for GPU profiles (offline-gpu)")
        elif values["funasr_gpus"] == "all":
            problem("funasr_gpus", "is 'all' with funasr_instance_per_gpu = True; set a count "
                    "(e.g. 2) or a list of GPU ids (e.g. ['0', '1']) so each instance's port is "
                    "known before the host is asked")
        elif valid("funasr_port"):
            count = values["funasr_gpus"] if isinstance(values["funasr_gpus"], int) else len(values["funasr_gpus"])
            if values["funasr_port"] + count - 1 > 65535:
                problem("funasr_port", f"instances use ports {values['funasr_port']}-"
                        f"{values['funasr_port'] + count - 1}, beyond 65535; lower funasr_port")
    if valid("funasr_tls", "funasr_tls_cert", "funasr_tls_key") and values["funasr_tls"] == "generated" \
            and (values["funasr_tls_cert"] or values["funasr_tls_key"]):
        problem("funasr_tls", "is 'generated' but funasr_tls_cert or funasr_tls_key is set too; "
                "remove them (the fleet CA issues this host's certificate), or set "
                "funasr_tls = 'files' to deploy your own")
    if valid("funasr_tls", "funasr_probe_address") and values["funasr_tls"] == "generated":
        for where, name in (("inventory name", host.name),
                            ("ssh_hostname", host.data.get("ssh_hostname") or ""),
                            ("funasr_probe_address", values["funasr_probe_address"])):
            try:
                if name:
                    tls.san_name(name)
            except ValueError as error:
                problem("funasr_tls", f"is 'generated', but the host's {where} cannot be a "
                        f"certificate name: {error}; rename it, or set funasr_tls = 'files'")
    env_name = values.get("funasr_registry_password_env")
    if env_name and values.get("funasr_registry_password_file"):
        problem("funasr_registry_password_file",
                f"is set and so is funasr_registry_password_env ({env_name}); the password must "
                "have one source: set one of them to ''")
    elif env_name and not os.environ.get(env_name):
        problem("funasr_registry_password_env",
                f"environment variable {env_name} is not set; export it before running pyinfra")
    return problems


@functools.lru_cache(maxsize=None)
def probe_source_address(address, port):
    """The address this control node sends from to reach ``address`` (its route's source;
    a UDP socket's connect sends nothing), or None when that cannot be told (no route, a
    name that does not resolve). Cached: a run builds each host's settings several times
    (validation, the deploy, the balancer), and a name is resolved once."""
    try:
        family, kind, proto, _, target = socket.getaddrinfo(address, port, type=socket.SOCK_DGRAM)[0]
        with socket.socket(family, kind, proto) as probe_socket:
            probe_socket.connect(target)
            return ipaddress.ip_address(probe_socket.getsockname()[0])
    except (OSError, ValueError):
        return None


def _layout_problems(host, layers, profile, values):
    """The image cannot load a model revision of the other layout (catalog.py): one
    problem naming the image and each such revision, before any host changes."""
    tag = values["funasr_image_tag"] or profile.tag(values["funasr_version"])
    version = next((v for v in profile.versions if profile.tag(v) == tag), None)
    mismatches = catalog.layout_mismatches(profile, version, values["funasr_models"])
    if not mismatches:
        return []
    image_layout = profile.versions[version]
    loaders = [v for v, layout in profile.versions.items() if layout != image_layout]
    revisions = "; ".join(f"funasr_models[{profile.name!r}][{role!r}] = {spec.id}@{spec.revision} "
                          f"({layout} layout)" for role, spec, layout in mismatches)
    key = "funasr_image_tag" if values["funasr_image_tag"] else "funasr_version"
    source, raw = _winning_value(layers, key)
    return [Problem(host.name, key, raw, source,
                    f"image {tag} loads models of the {image_layout} layout only, but {revisions}; "
                    f"use an image that loads them ({', '.join(profile.tag(v) for v in loaders)}) "
                    f"or pin revisions of the {image_layout} layout")]


def _layer_values(layers, key):
    return [layer[key] for _, layer in layers if key in layer]


def _winning_value(layers, key):
    for source, layer in reversed(layers):
        if key in layer:
            return source, layer[key]
    return None, None


def _unknown_keys(hostname, layers):
    known = set(KNOBS) | pyinfra_data_keys()
    problems = []
    for source, layer in layers:
        for key in layer:
            if key in known:
                continue
            close = difflib.get_close_matches(key, known, n=1)
            fix = f"did you mean {close[0]!r}?" if close else "see group_data/all.py for every knob"
            problems.append(Problem(hostname, key, layer[key], source,
                                    f"unknown key; {fix} (remove or rename it)"))
    return problems

