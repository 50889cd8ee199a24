"""
Read many facts in one remote command.

pyinfra runs one command per fact an operation reads, and does not keep a fact from one
operation to the next, so a converge that changes nothing would run a dozen commands on
each host. Here each operation declares the facts it reads first (`reads`, from its
arguments, as it is called while deploy.py is prepared); the first such read on a host
runs every declared fact in one command (`FactBatch`), and later reads are answered from
that batch while nothing has changed on the host since. A read after a change on the
host, or one the batch could not answer, is pyinfra's own ``host.get_fact``.

What a batch answers is what ``host.get_fact`` would have answered at that moment: each
fact's own command and ``process``; a missing binary gives the fact's ``default()``;
a section that fails is read again on its own, so pyinfra reports it as it would.

**Example:**

.. code:: python

    @reads(lambda paths, **_: [(PathStates, {"paths": tuple(paths)})])
    @operation()
    def my_files(paths):
        states = read(PathStates, paths=tuple(paths))
"""

import functools
import weakref

from pyinfra import host
from pyinfra.api import FactBase

from ..pyinfra_internals import current_host, host_changed, run_stage

MARK = "@@funasr-fleet-fact"
STAGES = ("prepare", "execute")  # pyinfra's run stages (`pyinfra_internals.run_stage`)
NO_COMMAND = "##PYINFRA_NOCMD##"  # pyinfra's marker for a fact whose binary is missing


def fact_key(cls, kwargs):
    """Hashable identity of one fact read: its class and arguments (lists as tuples)."""
    def frozen(value):
        if isinstance(value, (list, tuple)):
            return tuple(frozen(item) for item in value)
        if isinstance(value, dict):
            return tuple(sorted((key, frozen(item)) for key, item in value.items()))
        return value
    return cls, frozen(kwargs)


def section(cls, kwargs):
    """The shell text that runs one fact as pyinfra would (its binary checked first),
    or None when the fact's command is not plain text (it is then read on its own)."""
    fact = cls()
    command = fact.command(**kwargs)
    if not isinstance(command, str):
        return None
    required = fact.requires_command(**kwargs)
    if required:
        return (f"if command -v {required} >/dev/null 2>&1; then ( {command} ); "
                f"else echo '{NO_COMMAND}'; fi")
    return f"( {command} )"


def answer(cls, lines):
    """What ``host.get_fact`` returns for output ``lines`` of a fact that succeeded."""
    fact = cls()
    if lines == [NO_COMMAND] or not lines:
        return fact.default()
    return fact.process(lines)


class Reads(tuple):
    """The facts of one batch, ``((cls, kwargs), ...)``; printed short in pyinfra's logs."""

    def __str__(self):
        return f"{len(self)} facts: " + ", ".join(sorted({cls.__name__ for cls, _ in self}))


class FactBatch(FactBase):
    """
    Several facts in one command: ``{index: value}`` for each read of ``reads`` whose
    section succeeded (`answer`); failed sections are absent.

    .. code:: python

        host.get_fact(FactBatch, reads=Reads([(PathStates, {"paths": ("/etc/x",)})]))
    """

    def command(self, reads):
        # The sections run at once (each is a read; several wait on docker or dpkg), each
        # into its own file, then their outputs are printed in order between markers. The
        # end marker starts on a new line even after output without a final newline;
        # `process` drops the empty line it adds after output that has one.
        started = "".join(f"{{ {section(cls, kwargs)}; echo $? > \"$d/{index}.rc\"; }} > \"$d/{index}\" & "
                          for index, (cls, kwargs) in enumerate(reads))
        printed = "".join(f"echo '{MARK} {index}'; cat \"$d/{index}\"; "
                          f"printf '\\n{MARK}-end {index} %s\\n' \"$(cat \"$d/{index}.rc\")\"; "
                          for index in range(len(reads)))
        # No temporary directory: no answer (exit 0: a failed fact fails its host), and
        # every read is then made on its own.
        return f'd=$(mktemp -d 2>/dev/null) || exit 0; {started}wait; {printed}rm -rf "$d"'

    def process(self, output):
        answers, lines, index = {}, [], None
        for line in output:
            if line.startswith(f"{MARK} "):
                index, lines = int(line.split()[1]), []
            elif line.startswith(f"{MARK}-end "):
                _, done, status = line.split()
                answers[int(done)] = (status == "0", lines[:-1] if lines[-1:] == [""] else lines)
                index = None
            elif index is not None:
                lines.append(line)
        return answers

    def default(self):
        return {}


class HostReads:
    """One host's declared reads in one pyinfra run, and the batch answers per run stage."""

    def __init__(self):
        self.wanted = {}  # fact_key -> (cls, kwargs), in declaration order
        self.stages = {}  # fact_key -> the run stages that read it
        self.answers = {}  # (stage, fact_key) -> value

    def want(self, cls, kwargs, stages=STAGES):
        """Declare one read in ``stages`` (batched when its command is plain text)."""
        if section(cls, kwargs) is not None:
            key = fact_key(cls, kwargs)
            self.wanted.setdefault(key, (cls, kwargs))
            self.stages.setdefault(key, set()).update(stages)

    def wants(self, key, stage):
        """Whether the read ``key`` was declared for ``stage``."""
        return stage in self.stages.get(key, ())

    def batch(self, stage):
        """Read every fact declared for ``stage`` and not yet answered, in one command."""
        # In a stable order: hosts that read the same facts send the same command.
        missing = sorted((key for key in self.wanted
                          if self.wants(key, stage) and (stage, key) not in self.answers),
                         key=lambda key: (key[0].__module__, key[0].__name__, repr(key[1])))
        reads = Reads(self.wanted[key] for key in missing)
        results = host.get_fact(FactBatch, reads=reads)
        for index, key in enumerate(missing):
            ok, lines = results.get(index, (False, None))
            if ok:
                self.answers[stage, key] = answer(key[0], lines)


# Per pyinfra run (its Host objects): each host's declared reads. Weak keys: a run's
# hosts, and their reads, go when the run goes.
_HOSTS = weakref.WeakKeyDictionary()


def host_reads(current=None):
    """The `HostReads` of ``current`` (pyinfra's current host by default)."""
    current = current or current_host()
    return _HOSTS.setdefault(current, HostReads())


def want(cls, stages=STAGES, **kwargs):
    """Declare that the current host's run reads ``cls(**kwargs)`` in ``stages`` (see
    `reads`; deploy code that reads a fact only while deploy.py is prepared declares
    ``("prepare",)``, so the execution's batch does not read it again)."""
    host_reads().want(cls, kwargs, stages)


def read(cls, **kwargs):
    """
    The fact ``cls(**kwargs)`` on the current host: from its batch when the read was
    declared and nothing has changed on the host in this run stage, else read now.

    Call it only before the operation's first command (a command it yields changes
    the host; pyinfra counts the change when the operation ends).
    """
    reads, key = host_reads(), fact_key(cls, kwargs)
    stage = run_stage(host.state) if key in reads.wanted else None
    if reads.wants(key, stage) and not host_changed(host.state, host):
        if (stage, key) not in reads.answers:
            reads.batch(stage)
        if (stage, key) in reads.answers:
            return reads.answers[stage, key]
    return host.get_fact(cls, **kwargs)


def reads(declare):
    """Decorator for an operation: ``declare(**op_kwargs)`` lists the ``(fact class,
    kwargs)`` the operation reads first; they are declared for the current host when the
    operation is called (while deploy.py is prepared), so the host's batch has them."""
    def decorate(op):
        @functools.wraps(op)
        def call(*args, **kwargs):
            for cls, fact_kwargs in declare(*args, **kwargs):
                want(cls, **fact_kwargs)
            return op(*args, **kwargs)
        return call
    return decorate
