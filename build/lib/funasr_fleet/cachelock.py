"""
Produce a control-node cache entry once, however many hosts ask for it at the same time.

pyinfra prepares hosts concurrently (gevent greenlets, in one process) and several
pyinfra runs may share a cache, so a lock file next to the entry names the producing
process; the others wait, cooperatively (pyinfra's gevent makes sleep yield), and a lock
whose process is gone is taken over.
"""

import os
import time
from contextlib import contextmanager
from pathlib import Path


def produce_once(path, produce, poll=0.2):
    """Call ``produce()`` unless ``path`` exists; concurrent callers wait for one producer.

    + path: the cache entry (file or directory) ``produce`` creates atomically
    + produce: callable that creates ``path`` (and raises on failure)

    **Example:**

    .. code:: python

        produce_once(cache / "abc.tar.gz", lambda: save_image(image, cache / "abc.tar.gz"))
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        return
    with exclusive(path, poll):
        if not path.exists():
            produce()


@contextmanager
def exclusive(path, poll=0.2):
    """Hold the lock of ``path`` (the file ``<path>.lock`` beside it) for the ``with`` block.

    + path: the cache entry the block reads or replaces; its directory must exist
    + poll: seconds between attempts while another greenlet or process holds it

    For entries that are checked and replaced, not only created (e.g. a host's TLS
    certificate, re-issued when its names change): the check and the replacement happen
    under the lock, so two callers never write the entry at once.

    **Example:**

    .. code:: python

        with exclusive(tls_dir / "hosts" / "asr-1"):
            if not still_valid(certificate):
                issue(certificate)
    """
    lock = Path(path).with_name(f"{Path(path).name}.lock")
    while True:
        try:
            descriptor = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            break
        except FileExistsError:
            if not _holder_alive(lock):
                lock.unlink(missing_ok=True)
            time.sleep(poll)
    try:
        os.write(descriptor, str(os.getpid()).encode())
        yield
    finally:
        os.close(descriptor)
        lock.unlink(missing_ok=True)


def _holder_alive(lock):
    try:
        os.kill(int(lock.read_text() or "0"), 0)
    except (OSError, ValueError):
        return False
    return True
