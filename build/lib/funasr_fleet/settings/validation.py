"""
Validation of host data: `load_settings` builds one host's `Settings` from its data
layers (every knob checked, then the cross-key checks); `check_inventory` builds every
host's and checks that the fleet-wide knobs agree. Both report every problem at once.
"""

import difflib
import functools
import ipaddress
import os
import socket
from dataclasses import dataclass

from .. import catalog, hotwords, modelset
from ..cert_names import san_name
from ..errors import SettingsError
from ..pyinfra_internals import pyinfra_data_keys
from .knobs import DEFAULTS, FLEET_WIDE, KNOBS, LAYERED, PREFIXES
from .model import Settings


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

    Sources read like ``funasr-fleet's declared default``, ``group_data/all.py``, ``group
    cpu``, ``host lab-1``, ``--data``, the names an operator looks for when a message points
    at a value.
    """
    inventory = host.inventory
    # The declared defaults first: a project without this repository's group_data/all.py
    # (generated from the same declarations) gets the same values.
    layers = [("funasr-fleet's declared default", dict(DEFAULTS)), ("group_data/all.py", inventory.get_data())]
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
                    san_name(name)
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
    """A key with one of this project's prefixes (knobs.PREFIXES) that no knob has is a
    typo; other keys are another deploy's data in the same inventory, not ours to judge."""
    known = set(KNOBS) | pyinfra_data_keys()
    problems = []
    for source, layer in layers:
        for key in layer:
            if key in known or not key.startswith(PREFIXES):
                continue
            close = difflib.get_close_matches(key, known, n=1)
            fix = f"did you mean {close[0]!r}?" if close else "see group_data/all.py for every knob"
            problems.append(Problem(hostname, key, layer[key], source,
                                    f"unknown key; {fix} (remove or rename it)"))
    return problems
