"""
Air-gapped image delivery, control-node side: one ``docker save`` tarball per image ID.

The tarball is made once (named by the image ID, so a retagged image gets a new
one) and streamed to every host that lacks that image ID.
"""

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

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


def prepare_tarball(image, cache_dir):
    """Return the `ImageTarball` of ``image``, saving it into ``cache_dir`` if not there yet.

    + image: image reference present on the control node
    + cache_dir: directory for tarballs (created if missing)

    **Example:**

    .. code:: python

        tarball = prepare_tarball("funasr-fleet-lab/funasr-standin:TAG", "~/.cache/funasr-fleet/images")
    """
    image_id = local_image_id(image)
    cache = Path(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"{image_id.split(':')[-1]}.tar.gz"
    _save_once(image, path)
    return ImageTarball(image=image, image_id=image_id, path=path)


def _save_once(image, path, poll=0.2):
    """Save unless ``path`` exists; concurrent callers (hosts, processes) wait for one saver.

    The lock file holds the saver's PID; a lock whose process is gone is taken over.
    Waiting uses sleep, which pyinfra's gevent makes cooperative.
    """
    lock = path.with_name(f"{path.name}.lock")
    while not path.is_file():
        try:
            descriptor = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            if not _lock_alive(lock):
                lock.unlink(missing_ok=True)
            time.sleep(poll)
            continue
        try:
            os.write(descriptor, str(os.getpid()).encode())
            _save(image, path)
        finally:
            os.close(descriptor)
            lock.unlink(missing_ok=True)


def _lock_alive(lock):
    try:
        os.kill(int(lock.read_text() or "0"), 0)
    except (OSError, ValueError):
        return False
    return True


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
