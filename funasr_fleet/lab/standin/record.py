"""
The record of one server start (`Startup`): its options, its log lines, what loaded, and
its exit (`Exit`, the real process's exit(status)). Citations use the short source names
listed in the package docstring (__init__.py).
"""

from .glog import glog_line


class Exit(Exception):
    """exit(status) of the real process."""

    def __init__(self, status):
        super().__init__(status)
        self.status = status


class Startup:
    """What a server start decided: replayable without sockets.

    + exit_code: None when the server runs, else its exit status (exit(-1) -> 255)
    + lines: ``(level, where, message)``; level "" is a raw line of the download tool
    + loaded: ``{role: bool}`` of vad, asr, online_asr (2pass), lm, punc, itn
    + hotword_path: "lm" (WFST decoder), "embedding" (model_eb), or None (hotwords inert)
    + ssl: wss or ws; hotwords: the hotword file's ``{phrase: weight}``
    """

    def __init__(self, kind, env, echo=None):
        self.kind, self.env, self.echo = kind, dict(env), echo
        self.exit_code = None
        self.lines = []
        self.options, self.given = {}, set()
        self.model_path = {}
        self.loaded = {}
        self.hotword_embedding = False
        self.hotwords = {}
        self.ssl = False
        self.tool_runs = []
        self.exports = []
        self.use_gpu = False

    @property
    def hotword_path(self):
        if self.loaded.get("lm"):
            return "lm"
        return "embedding" if self.hotword_embedding else None

    @property
    def hotwords_active(self):
        return self.hotword_path is not None

    @property
    def text(self):
        return "\n".join(message for _, _, message in self.lines)

    def log(self, level, where, message):
        self.lines.append((level, where, message))
        if self.echo:
            self.echo(glog_line(level, where, message) if level else message)

    def exit(self, status, where):
        raise Exit(status & 0xFF)
