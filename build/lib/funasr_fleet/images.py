"""
Air-gapped image delivery, control-node side: one ``docker save`` tarball per image ID.

The tarball is made once (named by the image ID, so a retagged image gets a new
one) and streamed to every host that lacks that image ID.
"""

import subprocess
from dataclasses import dataclass
from pathlib import Path

from .cachelock import produce_once
from .errors import DeployError


@dataclass(frozen=True)
class ImageTarball:
    """A saved image on the control node.

    + image: the reference it was saved as (``repository:tag``)
    + image_id: its ID (``sha256:...``)
    + path: the gzip'd ``docker save`` output
    """

    image: str
    image_id: str
    path: Path


def local_image_id(image):
    """ID of ``image`` in the control node's Docker engine; `DeployError` when absent."""
    result = subprocess.run(["docker", "image", "inspect", "--format", "{{.Id}}", image],
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise DeployError(
            f"image {image} is not in the control node's Docker engine, which tarball delivery "
            f"saves it from ({result.stderr.strip() or 'docker image inspect failed'}); "
            f"docker pull or docker load it on the control node first",
        )
    return result.stdout.strip()


def tarball_path(cache_dir, image_id):
    """Where the tarball of image ID ``image_id`` is kept in ``cache_dir``."""
    return Path(cache_dir) / f"{image_id.split(':')[-1]}.tar.gz"


def prepare_tarball(image, cache_dir):
    """Return the `ImageTarball` of ``image``, saving it into ``cache_dir`` if not there yet.

    + image: image reference present on the control node
    + cache_dir: directory for tarballs (created if missing)

    **Example:**

    .. code:: python

        tarball = prepare_tarball("funasr-fleet-lab/funasr-standin:TAG", "~/.cache/funasr-fleet/images")
    """
    image_id = local_image_id(image)
    path = tarball_path(cache_dir, image_id)
    produce_once(path, lambda: _save(image, path))
    return ImageTarball(image=image, image_id=image_id, path=path)


def planned_tarball(image, cache_dir):
    """The `ImageTarball` `prepare_tarball` would return, and whether it would save it.

    For ``--dry``: returns ``(tarball, would_save)``; reads the image ID (``docker image
    inspect``, `DeployError` when the image is absent, as `prepare_tarball` raises) and
    looks for the tarball, without saving anything or creating ``cache_dir``.
    """
    image_id = local_image_id(image)
    path = tarball_path(cache_dir, image_id)
    return ImageTarball(image=image, image_id=image_id, path=path), not path.exists()


def _save(image, path):
    temporary = path.with_name(f"{path.name}.partial")
    with open(temporary, "wb") as out:
        save = subprocess.Popen(["docker", "save", image], stdout=subprocess.PIPE)
        gzip = subprocess.run(["gzip", "-1"], stdin=save.stdout, stdout=out, check=False)
        save.stdout.close()
        if save.wait() != 0 or gzip.returncode != 0:
            temporary.unlink(missing_ok=True)
            raise DeployError(f"docker save {image} | gzip failed; see the messages above")
    temporary.replace(path)
