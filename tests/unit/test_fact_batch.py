"""facts.batch: many facts in one command answer what pyinfra's own reads answer, and a
batch answers a read only while it can be trusted (declared, nothing changed since)."""

import json
from types import SimpleNamespace

import pytest
from pyinfra.api import Config, FactBase, Inventory, State
from pyinfra.api.connect import connect_all
from pyinfra.facts.server import LinuxDistribution

from funasr_fleet.facts import batch
from funasr_fleet.facts.apt import DebPackageVersions, KeyringFingerprints
from funasr_fleet.facts.batch import FactBatch, HostReads, Reads, answer, fact_key
from funasr_fleet.facts.files import PathStates
from funasr_fleet.facts.release import ReleaseRecord
from funasr_fleet.facts.systemd import SystemdUnitState


class ExitsNonZero(FactBase):
    """A fact whose command fails: pyinfra reports it; a batch leaves it unanswered."""

    def command(self):
        return "echo partial; exit 3"


class NeedsMissingBinary(FactBase):
    """A fact whose binary is absent: pyinfra gives its default."""

    def requires_command(self):
        return "funasr-fleet-no-such-binary"

    def command(self):
        return "funasr-fleet-no-such-binary --list"

    @staticmethod
    def default():
        return ["the default"]


class Printed(FactBase):
    """Prints ``fmt`` (printf): its lines exactly as pyinfra splits them."""

    def command(self, fmt):
        return f"printf '{fmt}'"

    def process(self, output):
        return list(output)


@pytest.fixture(scope="module")
def local_host():
    """pyinfra's @local host, connected: facts are read by pyinfra's own machinery."""
    inventory = Inventory((["@local"], {}))
    state = State(inventory, Config())
    connect_all(state)
    return inventory.get_host("@local")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    base = tmp_path_factory.mktemp("batch")
    (base / "release.json").write_text(json.dumps({"current": {"version": "0.1.13"}}))
    (base / "hotwords.txt").write_text("阿里巴巴 20\n")
    (base / "dir").mkdir()
    return base


def reads_of(files):
    """One read of each kind the deploy batches, on this machine."""
    return [
        (PathStates, {"paths": [str(files / "hotwords.txt"), str(files / "dir"), str(files / "none")]}),
        (ReleaseRecord, {"path": str(files / "release.json")}),
        (ReleaseRecord, {"path": str(files / "absent.json")}),  # no output: the default
        (DebPackageVersions, {"packages": ["dpkg", "funasr-fleet-not-a-package"]}),
        (KeyringFingerprints, {"path": str(files / "no-keyring.asc")}),
        (SystemdUnitState, {"unit": "funasr-fleet-no-such.service"}),
        (LinuxDistribution, {}),  # pyinfra's own fact
        (NeedsMissingBinary, {}),
        # Output with and without a final newline, and empty lines, split as pyinfra does.
        *((Printed, {"fmt": fmt}) for fmt in ("x", "x\\n", "x\\n\\n", "\\n", "", "a\\n\\nb")),
    ]


def test_a_batch_answers_what_each_fact_read_alone_answers(local_host, files):
    reads = reads_of(files)
    results = local_host.get_fact(FactBatch, reads=Reads(reads))
    for index, (cls, kwargs) in enumerate(reads):
        ok, lines = results[index]
        assert ok, cls
        assert answer(cls, lines) == local_host.get_fact(cls, **kwargs), cls.__name__


def test_a_failed_section_is_left_unanswered_and_the_rest_answered(local_host, files):
    reads = [(ExitsNonZero, {}), (ReleaseRecord, {"path": str(files / "release.json")})]
    results = local_host.get_fact(FactBatch, reads=Reads(reads))
    assert results[0][0] is False
    assert answer(ReleaseRecord, results[1][1]) == {"current": {"version": "0.1.13"}}


def test_fact_key_is_the_same_for_lists_and_tuples():
    assert fact_key(PathStates, {"paths": ["/a", "/b"]}) == fact_key(PathStates, {"paths": ("/a", "/b")})
    assert fact_key(PathStates, {"paths": ["/a"]}) != fact_key(PathStates, {"paths": ["/b"]})


def test_reads_print_short_in_pyinfra_logs():
    reads = Reads([(PathStates, {"paths": ["/a"]}), (PathStates, {"paths": ["/b"]}),
                   (ReleaseRecord, {"path": "/r"})])
    assert str(reads) == "3 facts: PathStates, ReleaseRecord"


class RecordingHost:
    """pyinfra's host as `batch.read` sees it: facts from a table, every read recorded."""

    def __init__(self, facts, batch_fails=()):
        self.facts, self.batch_fails, self.calls = facts, set(batch_fails), []
        self.state = SimpleNamespace()

    def get_fact(self, cls, **kwargs):
        self.calls.append(cls.__name__)
        if cls is FactBatch:
            return {index: (cls_ not in self.batch_fails, [json.dumps(self.facts[cls_.__name__])])
                    for index, (cls_, _) in enumerate(kwargs["reads"])}
        return self.facts[cls.__name__]


class JsonFact(FactBase):
    def command(self, which):
        return f"echo {which}"

    def process(self, output):
        return json.loads(output[0])


class OtherJsonFact(JsonFact):
    pass


def run_reads(monkeypatch, steps, batch_fails=()):
    """Declare JsonFact and OtherJsonFact, then run ``steps``: ("read", cls),
    ("change",) or ("stage", name). Returns the host's calls."""
    fake = RecordingHost({"JsonFact": {"a": 1}, "OtherJsonFact": {"b": 2}}, batch_fails)
    reads, flags = HostReads(), {"changed": False, "stage": "prepare"}
    monkeypatch.setattr(batch, "host", fake)
    monkeypatch.setattr(batch, "host_reads", lambda current=None: reads)
    monkeypatch.setattr(batch, "host_changed", lambda state, host: flags["changed"])
    monkeypatch.setattr(batch, "run_stage", lambda state: flags["stage"])
    reads.want(JsonFact, {"which": "x"})
    reads.want(OtherJsonFact, {"which": "y"})
    answers = []
    for step in steps:
        if step[0] == "read":
            answers.append(batch.read(step[1], which=step[2]))
        elif step[0] == "change":
            flags["changed"] = True
        else:
            flags["stage"] = step[1]
    return fake.calls, answers


@pytest.mark.parametrize("steps, batch_fails, calls", [
    # Two declared reads: one batch.
    ([("read", JsonFact, "x"), ("read", OtherJsonFact, "y")], (), ["FactBatch"]),
    # The execute stage reads again (the host may have changed since it was prepared).
    ([("read", JsonFact, "x"), ("stage", "execute"), ("read", JsonFact, "x")], (),
     ["FactBatch", "FactBatch"]),
    # After a change on the host, a read is pyinfra's own.
    ([("read", JsonFact, "x"), ("change",), ("read", OtherJsonFact, "y")], (),
     ["FactBatch", "OtherJsonFact"]),
    # Not declared (other arguments): read on its own.
    ([("read", JsonFact, "z")], (), ["JsonFact"]),
    # A section that failed is read on its own, so pyinfra reports it as it would.
    ([("read", JsonFact, "x"), ("read", OtherJsonFact, "y")], (OtherJsonFact,),
     ["FactBatch", "FactBatch", "OtherJsonFact"]),
])
def test_read_uses_the_batch_only_when_it_can_be_trusted(monkeypatch, steps, batch_fails, calls):
    got, answers = run_reads(monkeypatch, steps, batch_fails)
    assert got == calls
    assert all(answer in ({"a": 1}, {"b": 2}) for answer in answers)


def test_a_read_declared_for_the_prepare_stage_only_is_not_read_again_when_executing(monkeypatch):
    """The distribution and the GPUs are read while deploy.py is prepared; the
    execution's batch leaves them out (nvidia-smi is slow on a real GPU host)."""
    sent = []

    class Host(RecordingHost):
        def get_fact(self, cls, **kwargs):
            sent.append((cls.__name__, sorted(read_cls.__name__ for read_cls, _ in kwargs.get("reads", ()))))
            return super().get_fact(cls, **kwargs)

    fake = Host({"JsonFact": {"a": 1}, "OtherJsonFact": {"b": 2}})
    reads, stage = HostReads(), {"now": "prepare"}
    monkeypatch.setattr(batch, "host", fake)
    monkeypatch.setattr(batch, "host_reads", lambda current=None: reads)
    monkeypatch.setattr(batch, "host_changed", lambda state, host: False)
    monkeypatch.setattr(batch, "run_stage", lambda state: stage["now"])
    reads.want(JsonFact, {"which": "x"}, ("prepare",))
    reads.want(OtherJsonFact, {"which": "y"})
    assert batch.read(JsonFact, which="x") == {"a": 1}
    stage["now"] = "execute"
    assert batch.read(OtherJsonFact, which="y") == {"b": 2}
    assert sent == [("FactBatch", ["JsonFact", "OtherJsonFact"]), ("FactBatch", ["OtherJsonFact"])]
