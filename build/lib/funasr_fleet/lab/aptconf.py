"""
The Debian mirror this machine uses, read from its apt configuration at run time.

The lab builds its hosts from the same mirror (debootstrap, and apt inside the lab
hosts). No mirror host name is written into the repository.
"""

import re
from pathlib import Path

SUITE_PATTERN = re.compile(r"^(bookworm|trixie|forky|sid|stable|testing|unstable)$")


def deb822_mirrors(text):
    """Debian mirror URIs of a deb822 ``.sources`` file's text, in order."""
    mirrors = []
    for stanza in re.split(r"\n\s*\n", text):
        fields = {}
        for line in stanza.splitlines():
            key, _, value = line.partition(":")
            if not line.startswith("#") and value:
                fields[key.strip().lower()] = value.strip()
        suites = fields.get("suites", "").split()
        if "main" in fields.get("components", "").split() and any(
                SUITE_PATTERN.match(suite) for suite in suites):
            mirrors += fields.get("uris", "").split()
    return mirrors


def one_line_mirrors(text):
    """Debian mirror URIs of a one-line-style ``sources.list`` text, in order."""
    mirrors = []
    for line in text.splitlines():
        words = re.sub(r"\[[^\]]*\]", "", line).split()
        if len(words) >= 4 and words[0] == "deb" and SUITE_PATTERN.match(words[2]) \
                and "main" in words[3:]:
            mirrors.append(words[1])
    return mirrors


def debian_mirror(root="/"):
    """The first Debian main-archive mirror URI in the apt configuration under ``root``.

    Raises ``RuntimeError`` when none is configured.

    **Example:**

    .. code:: python

        debian_mirror()  # e.g. 'http://mirror.example/debian'
    """
    apt = Path(root) / "etc" / "apt"
    candidates = []
    for path in sorted((apt / "sources.list.d").glob("*.sources")):
        candidates += deb822_mirrors(path.read_text(errors="replace"))
    for path in [apt / "sources.list", *sorted((apt / "sources.list.d").glob("*.list"))]:
        if path.is_file():
            candidates += one_line_mirrors(path.read_text(errors="replace"))
    if not candidates:
        raise RuntimeError(f"no Debian mirror with a bookworm/trixie main suite in {apt}; "
                           "configure apt first")
    return candidates[0].rstrip("/")
