"""
Inventory of bench/scale.py's replayed hosts: FUNASR_BENCH_HOSTS ``@fake`` hosts, each
with the recorded lab host's data and the recorded answers to its commands
(FUNASR_BENCH_INVENTORY, written by bench/scale.py). Groups ``lab`` and ``cpu``, as the
recorded host, so the same group_data applies.
"""

import json
import os

_spec = json.load(open(os.environ["FUNASR_BENCH_INVENTORY"]))
# Each recorded command's answers (in the order it got them), by the command's whole text (bench/pyinfra_replay.py
# looks commands up whole: a fact read alone is a substring of a batch).
_responses = list(_spec["responses"].items())


def _own(answers, pairs):
    """The recorded ``answers`` with the recorded host's digests replaced by this host's."""
    return [_own_answer(answer, pairs) for answer in answers]


def _own_answer(answer, pairs):
    """One recorded answer with the recorded host's digests replaced by this host's."""
    def replaced(lines):
        text = "\n".join(lines)
        for old, new in pairs:
            text = text.replace(old, new)
        return text.split("\n") if lines else lines
    return {**answer, "stdout": replaced(answer["stdout"])}


def _host(name):
    pairs = _spec.get("substitute", {}).get(name, [])
    return (name, {**_spec["data"],
                   "fake_responses": {command: _own(answer, pairs) for command, answer in _responses},
                   "fake_delay": _spec["delay"],  # the recorded median command duration
                   "fake_delay_jitter": 0})


_hosts = [_host(f"@fake/replay-{index:04d}") for index in range(1, int(os.environ["FUNASR_BENCH_HOSTS"]) + 1)]

lab = _hosts
cpu = _hosts
