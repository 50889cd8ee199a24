"""sha256 helpers shared by rendering, models and operations."""

import hashlib


def sha256_bytes(data):
    """Hex sha256 of bytes."""
    return hashlib.sha256(data).hexdigest()


def sha256_text(text):
    """Hex sha256 of a text (UTF-8)."""
    return sha256_bytes(text.encode("utf-8"))


def sha256_file(path):
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def rendered_with_digest(render):
    """``(text, digest)`` of a file that carries its own configuration digest.

    + render: ``render(digest)`` returns the file's text; ``render(None)`` the text
      without the digest, whose sha256 becomes the digest

    A host then holds the digest where one fact reads it (compose labels on the
    containers, the firewall table's comment), and is compared by it alone.

    **Example:**

    .. code:: python

        text, digest = rendered_with_digest(lambda digest: render_firewall(settings, digest))
    """
    digest = sha256_text(render(None))
    return render(digest), digest
