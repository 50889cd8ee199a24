"""Shared test helpers: inventories built from the repository's group_data, fake hosts,
and what tests of the FunASR stand-in share (model file names, a free local port)."""

import runpy
import shutil
import socket
import subprocess
import sys
from pathlib import Path

from pyinfra.api import Inventory

REPO = Path(__file__).resolve().parent.parent


def group_data(name):
    """The data of group_data/<name>.py, as pyinfra loads it."""
    data = runpy.run_path(str(REPO / "group_data" / f"{name}.py"))
    return {key: value for key, value in data.items() if not key.startswith("__")}


def make_inventory(hosts, groups=None, all_data=None, override=None):
    """An Inventory: ``hosts`` is a list of (name, data); ``groups`` maps name -> (names, data).

    all data defaults to group_data/all.py, like the CLI loads it.
    """
    groups = groups or {}
    return Inventory((hosts, all_data if all_data is not None else group_data("all")),
                     override_data=override or {}, **groups)


class FakeHost:
    """Stands in for pyinfra's host inside an operation: facts are given, calls recorded."""

    def __init__(self, facts, executing=True):
        self.facts = facts
        self.connector = None  # not SSH: no rsync, no paramiko client
        self.fact_calls = []
        self.name = "fake-host"
        self.state = type("FakeState", (), {"is_executing": executing, "failed_hosts": set(), "ops": {},
                                            "config": type("Config", (), {"DIFF": False})()})()
        self.logs = []
        self.yielded = []  # the operation's commands, as objects (run_operation)

    def get_fact(self, cls, **kwargs):
        self.fact_calls.append((cls.__name__, kwargs))
        return self.facts[cls.__name__]

    def log(self, message):
        self.logs.append(message)

    def noop(self, message):
        self.logs.append(f"noop: {message}")


def run_operation(op, facts, **kwargs):
    """Run an operation's generator against a FakeHost; returns (commands as text, host)."""
    from pyinfra.context import ctx_host

    fake = FakeHost(facts)
    with ctx_host.use(fake):
        fake.yielded = list(op._inner(**kwargs))
    return [_describe(command) for command in fake.yielded], fake


def _describe(command):
    from pyinfra.api import StringCommand

    if isinstance(command, str):
        return command
    if isinstance(command, StringCommand):
        return command.get_raw_value()
    return repr(command)


# A complete local model set as the FunASR servers check it (com-define.h file names), per
# model directory of the stand-in tests; "torch" is a -pytorch repository (no ONNX).
STANDIN_MODEL_FILES = {
    "asr": ("model_quant.onnx", "config.yaml", "am.mvn", "tokens.json"),
    "online": ("model_quant.onnx", "decoder_quant.onnx", "config.yaml", "am.mvn", "tokens.json"),
    "vad": ("model_quant.onnx", "am.mvn", "config.yaml"),
    "punc": ("model_quant.onnx", "config.yaml", "tokens.json"),
    "itn": ("zh_itn_tagger.fst", "zh_itn_verbalizer.fst"),
    "lm": ("TLG.fst", "config.yaml", "lexicon.txt"),
    "torch": ("model.pt", "config.yaml", "am.mvn", "tokens.json", "seg_dict"),
}


def free_port():
    """A TCP port on 127.0.0.1 nothing listens on (for a stand-in server)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def build_wheel(directory):
    """Build this repository's wheel into ``directory`` (from a copy of the sources:
    setuptools writes build/ beside the tree it builds); returns its path."""
    source = Path(directory) / "source"
    shutil.copytree(REPO, source, symlinks=True, ignore=shutil.ignore_patterns(
        ".git", ".venv", ".lab", "build", "*.egg-info", "__pycache__", ".*_cache", "bench", "tests"))
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                            "-w", str(directory), str(source)], capture_output=True, text=True)
    assert built.returncode == 0, built.stderr[-2000:]
    [wheel] = Path(directory).glob("funasr_fleet-*.whl")
    return wheel
