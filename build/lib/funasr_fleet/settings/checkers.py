"""
The checkers of the knobs (settings/knobs.py declares which knob uses which).

Each checker takes the raw value and returns the typed value or raises
ValueError("<what is wrong>; <fix>"): the message validation.py reports after the
host, the key, the value and the data layer it came from.
"""

import ipaddress
import os
import posixpath
import re
from pathlib import Path

from ..cert_names import san_name
from .secret_files import read_secret


def choice(*choices):
    def check(value):
        if value not in choices:
            raise ValueError(f"must be one of {', '.join(map(repr, choices))}")
        return value

    return check


def boolean(value):
    if not isinstance(value, bool):
        raise ValueError("must be True or False")
    return value


def integer(low, high):
    def check(value):
        if isinstance(value, str) and value.strip().isdigit():  # --data gives strings
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"must be an integer from {low} to {high}")
        return value

    return check


def number(low, high):
    def check(value):
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"must be a number from {low} to {high}") from None
        if isinstance(value, bool) or not low <= number <= high:
            raise ValueError(f"must be a number from {low} to {high}")
        return number

    return check


def text(pattern=r".*", hint="a string"):
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


def absolute_path(value):
    """A directory on the hosts (``funasr_dir``)."""
    if not isinstance(value, str):
        raise ValueError("must be an absolute path, e.g. /opt/funasr")
    return _checked_path(value, "/opt/funasr")


def data_root(value):
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


def local_path(value):
    """A directory on the control node (caches, the TLS directory)."""
    path = _control_node_path(value)
    if re.search(r"\s", value):
        raise ValueError("must not contain whitespace, e.g. ~/.cache/funasr-fleet")
    # The control node's own layout is the operator's: only the system directories
    # themselves are refused (a checkout under /tmp may keep its caches there).
    return _checked_path(path, "~/.cache/funasr-fleet", trees=())


def url_list(value):
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise ValueError("must be a list of http(s) URLs, e.g. ['https://mirror.example.com']")
    for url in value:
        # What dockerd accepts at start (moby registry.ValidateMirror): http(s), no user
        # info, query or fragment. `dockerd --validate` does not check mirrors at all.
        if not re.fullmatch(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[^\s?#@]*)?", url):
            raise ValueError(f"entry {url!r} is not an http(s) URL without user, query or "
                             "fragment; write it like 'https://mirror.example.com'")
    return tuple(value)


def optional_local_file(value):
    if value in ("", None):
        return ""
    path = _control_node_path(value)
    if not Path(path).is_file():
        raise ValueError(f"file {path} does not exist on the control node")
    return path


def ip_address(value):
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ValueError("must be an IP address, e.g. 0.0.0.0 or 127.0.0.1") from None


def networks(value):
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


def san_list(value):
    if not isinstance(value, (list, tuple)):
        raise ValueError("must be a list of DNS names or IP addresses, e.g. ['asr.example.com', "
                         "'192.0.2.7']")
    names = []
    for entry in value:
        try:
            names.append(san_name(entry))
        except ValueError as error:
            raise ValueError(f"entry {error}") from None
    return tuple(names)


def secret_file(value):
    """'' or a control-node file holding a secret (read once here to check it)."""
    if value in ("", None):
        return ""
    path = _control_node_path(value)
    read_secret(path)
    return path


_UNITS = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


def size(low, high):
    """A Docker size (``'20m'``, ``'6g'``) from ``low`` to ``high`` (same notation)."""
    def amount(text):
        return int(text[:-1]) * _UNITS[text[-1]]

    def check(value):
        if not isinstance(value, str) or not re.fullmatch(r"[1-9][0-9]*[kmg]", value) \
                or not amount(low) <= amount(value) <= amount(high):
            raise ValueError(f"must be a size like '10m', '512k' or '6g', from {low} to {high}")
        return value

    return check


def version(value):
    if not isinstance(value, str) or not re.fullmatch(r"[0-9][0-9A-Za-z.+_-]*", value):
        raise ValueError("must be an image version such as '0.1.13'")
    return value


def env_var_name(value):
    if value and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
        raise ValueError("must be the NAME of an environment variable (the secret stays out of data)")
    return value


def gpus(value):
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


def canary(value):
    if isinstance(value, str) and value.isdigit():  # --data gives strings
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
        return value
    raise ValueError("must be 0 (no canary), a count of first hosts, or a group name")


def waves(value):
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


def port_map(value):
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


def passthrough(value):
    """Layered knobs (funasr_models, funasr_hotwords): merged and checked in validation.py."""
    return value
