"""
What a model fetch shows and adds up on the control node: a progress bar per model
revision (`Progress`, on a terminal only) and the final line of what came from the hub
and what from the cache (`FetchTally`).
"""

import shutil
import sys
import threading
import time


class FetchTally:
    """What fetches cost, added up over model revisions: files and bytes downloaded from
    the hub, and bytes taken from the control-node cache instead (revisions already
    cached, and what an interrupted earlier fetch had left, which a fetch resumes from).

    **Example:**

    .. code:: python

        tally = FetchTally()
        fetch_models(endpoint, specs, cache_dir, tally=tally)
        print(tally.line())  # models: fetched 3 files (1.2 GB) from <endpoint>, 2.1 GB from cache
    """

    def __init__(self):
        self.endpoints, self.files_fetched, self.bytes_fetched, self.bytes_cached = [], 0, 0, 0
        self.lock = threading.Lock()

    def add(self, endpoint, cached, fetched=None):
        """Add one `fetch_model` call: its endpoint, the `CachedModel` it returned and the
        `Progress` of its download (None: the revision came whole from the cache)."""
        with self.lock:
            if endpoint not in self.endpoints:
                self.endpoints.append(endpoint)
            if fetched is None:
                self.bytes_cached += sum(entry["size"] for entry in cached.files)
            else:
                self.files_fetched += fetched.files
                self.bytes_fetched += fetched.received
                self.bytes_cached += fetched.reused

    def line(self):
        """The final line: ``models: fetched N files (SIZE) from ENDPOINT, SIZE from cache``."""
        files = f"{self.files_fetched} file{'' if self.files_fetched == 1 else 's'}"
        return (f"models: fetched {files} ({human_bytes(self.bytes_fetched)}) from "
                f"{', '.join(self.endpoints) or _default_endpoint()}, "
                f"{human_bytes(self.bytes_cached)} from cache")


class Progress:
    """One model revision's download: its bytes done of its total, drawn as a one-line bar
    on stderr when that is a terminal (at most `REDRAW` times a second, and once done), and
    where the bytes came from.

    + label: what is downloaded, e.g. ``iic/speech_fsmn_vad_zh-cn-16k-common-onnx@v2.0.4``
    + total: the revision's size
    + held: bytes already in the cache (files or parts an interrupted fetch left)
    + files: how many files the download fetches
    + enabled: draw the bar (still only on a terminal)

    ``received`` counts the bytes downloaded, ``reused`` the held bytes kept (a hub that
    does not resume makes a part download again: `discard`), so ``received + reused``
    is ``total`` unless a part was downloaded again.
    """

    REDRAW = 10

    def __init__(self, label, total, held=0, files=0, enabled=True):
        self.label, self.total, self.files = label, total, files
        self.done_bytes, self.received, self.reused = held, 0, held
        self.stream = sys.stderr
        self.enabled = enabled and self.stream.isatty()
        self.started = self.drawn = time.monotonic()
        self.lock = threading.Lock()
        self._draw(force=True)

    def add(self, count):
        """``count`` more bytes downloaded."""
        with self.lock:
            self.done_bytes += count
            self.received += count
            self._draw()

    def discard(self, count, held=0):
        """``count`` bytes of a part thrown away (the hub sent the whole file again), of
        which ``held`` were in the cache before (the rest came in this run)."""
        with self.lock:
            self.done_bytes -= count
            self.reused -= held
            self._draw()

    def done(self):
        """Draw the bar a last time and end its line."""
        with self.lock:
            self._draw(force=True)
            if self.enabled:
                self.stream.write("\n")
                self.stream.flush()

    def _draw(self, force=False):
        now = time.monotonic()
        if not self.enabled or (not force and now - self.drawn < 1 / self.REDRAW):
            return
        self.drawn = now
        width = shutil.get_terminal_size((80, 24)).columns - 1  # never wrap: \r redraws one line
        self.stream.write("\r\033[K" + progress_line(self.label, self.done_bytes, self.total,
                                                      self.received / max(now - self.started, 1e-6),
                                                      width))
        self.stream.flush()


def progress_line(label, done, total, rate, width=79):
    """One bar line, at most ``width`` characters (cut there on a very narrow terminal):
    ``LABEL [#####.....]  50% 1.2 GB/2.4 GB 25.1 MB/s``. The bar takes 10 to 30 characters,
    the label the rest; a label too long loses its middle (its start names the model, its
    end the revision)."""
    fraction = min(max(done / total, 0.0), 1.0) if total else 1.0
    figures = f" {int(fraction * 100):3d}% {human_bytes(done)}/{human_bytes(total)} {human_bytes(rate)}/s"
    bar_width = max(10, min(30, width - len(figures) - 3 - len(label)))
    room = max(width - len(figures) - bar_width - 3, 9)
    if len(label) > room:
        head = (room - 3) // 2
        label = f"{label[:head]}...{label[len(label) - (room - 3 - head):]}"
    filled = int(fraction * bar_width)
    return f"{label} [{'#' * filled}{'.' * (bar_width - filled)}]{figures}"[:width]


def human_bytes(count):
    """``count`` bytes in decimal units with one decimal: ``0 B``, ``812 B``, ``1.2 GB``."""
    if abs(count) < 1000:
        return f"{int(count)} B"
    for unit in ("kB", "MB", "GB", "TB"):
        count /= 1000
        if abs(count) < 999.95 or unit == "TB":
            return f"{count:.1f} {unit}"


def _default_endpoint():
    """The hub a fetch without an endpoint uses (`funasr_fleet.hub`)."""
    from .hub import endpoint_or_default  # hub imports this module

    return endpoint_or_default(None)
