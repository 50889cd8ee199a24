"""
pyinfra's CLI for bench/scale.py, with funasr-fleet's remote commands and health probes
recorded (``FUNASR_BENCH_RECORD=<file>``) or replayed and counted
(``FUNASR_BENCH_REPLAY=<file>``); ``FUNASR_BENCH_STATS=<file>`` receives the counts:

    {"commands": {host: remote commands}, "probes": probe calls, "probe_rounds": gate
     operations that probed, "probe_seconds": time spent in probes}

Recording wraps pyinfra's SSH connector: each command's text as the connector got it
(before sudo/shell wrapping), its status, output and duration; each gate's probe
results and duration. Replaying runs the inventory's ``@fake`` hosts (pyinfra's fake
connector answers the recorded commands) and answers each gate with the recorded
results after the recorded duration (a gevent sleep: other hosts run meanwhile).

    FUNASR_BENCH_RECORD=rec.json python bench/pyinfra_replay.py -y --limit lab-1 inventory/lab.py deploy.py
"""

import atexit
import dataclasses
import json
import os
import sys
import time
from collections import Counter

# pyinfra's CLI first: importing it sets up gevent before anything opens a socket.
from pyinfra_cli.main import main

import gevent
from pyinfra import host as current_host
from pyinfra.connectors.fake import FakeConnector
from pyinfra.connectors.ssh import SSHConnector
from pyinfra.connectors.util import CommandOutput, OutputLine

from funasr_fleet.operations import release
from funasr_fleet.probe import ProbeResult

COUNTS = {"commands": Counter(), "probes": 0, "probe_ops": set(), "probe_seconds": 0.0}


def command_text(command):
    """The text of a command as a connector got it."""
    return command if isinstance(command, str) else command.get_masked_value()


def counted():
    """Count every remote command (SSH and fake connectors) and every gate's probes."""
    def counting(connector_run):
        def run_shell_command(self, command, *args, **kwargs):
            COUNTS["commands"][self.host.name] += 1
            return connector_run(self, command, *args, **kwargs)
        return run_shell_command

    def counting_gate(gate_results):
        def gate(gate_spec):
            started = time.monotonic()
            results = gate_results(gate_spec)
            COUNTS["probes"] += 1
            COUNTS["probe_ops"].add(current_host.current_op_hash)
            COUNTS["probe_seconds"] += time.monotonic() - started
            return results
        return gate

    SSHConnector.run_shell_command = counting(SSHConnector.run_shell_command)
    FakeConnector.run_shell_command = counting(FakeConnector.run_shell_command)
    release.gate_results = counting_gate(release.gate_results)


def record(path):
    """Wrap the SSH connector and the gate's probes; write what they did to ``path``."""
    recording = {"commands": [], "probes": []}
    ssh_run, gate_results = SSHConnector.run_shell_command, release.gate_results

    def run_shell_command(self, command, *args, **kwargs):
        started = time.monotonic()
        status, output = ssh_run(self, command, *args, **kwargs)
        recording["commands"].append({
            "host": self.host.name, "command": command_text(command), "ok": bool(status),
            "stdout": output.stdout_lines, "stderr": output.stderr_lines,
            "seconds": time.monotonic() - started})
        return status, output

    def recorded_gate(gate):
        started = time.monotonic()
        results = gate_results(gate)
        recording["probes"].append({"host": current_host.name, "seconds": time.monotonic() - started,
                                    "results": [dataclasses.asdict(result) for result in results]})
        return results

    SSHConnector.run_shell_command = run_shell_command
    release.gate_results = recorded_gate
    atexit.register(lambda: open(path, "w").write(json.dumps(recording)))


def replay(path):
    """Answer each gate from the recording (its results, after its duration); the
    inventory's @fake hosts answer the recorded commands, each looked up by its whole
    text (pyinfra's fake connector matches substrings, and a fact read alone is a
    substring of a batch; unrecorded commands succeed with no output, as there), the
    n-th time a command is sent with its n-th recorded answer (the last one after that)."""
    recorded = json.load(open(path))["probes"][0]

    sent = Counter()  # (host, command): times sent, to answer as the recording did

    def lookup(self, command_str):
        answers = (self.data.get("fake_responses") or {}).get(command_str)
        if not answers:
            return True, CommandOutput([])
        sent[self.host.name, command_str] += 1
        answer = answers[min(sent[self.host.name, command_str], len(answers)) - 1]
        return answer.get("success", True), CommandOutput(
            [OutputLine("stdout", line) for line in answer.get("stdout", [])]
            + [OutputLine("stderr", line) for line in answer.get("stderr", [])])

    FakeConnector._lookup_response = lookup

    def replayed_gate(gate):
        gevent.sleep(recorded["seconds"])
        return [ProbeResult(**{**result, "url": url})
                for url, result in zip(gate.urls, recorded["results"])]

    release.gate_results = replayed_gate


def write_stats(path):
    """Write COUNTS to ``path`` (JSON)."""
    COUNTS.update(probe_rounds=len(COUNTS.pop("probe_ops")), commands=dict(COUNTS["commands"]))
    with open(path, "w") as stats:
        json.dump(COUNTS, stats)


if __name__ == "__main__":
    if os.environ.get("FUNASR_BENCH_RECORD"):
        record(os.environ["FUNASR_BENCH_RECORD"])
    if os.environ.get("FUNASR_BENCH_REPLAY"):
        replay(os.environ["FUNASR_BENCH_REPLAY"])
    if os.environ.get("FUNASR_BENCH_STATS"):
        counted()
        atexit.register(write_stats, os.environ["FUNASR_BENCH_STATS"])
    sys.exit(main())
