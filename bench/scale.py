"""
Benchmark: how a converge grows with the fleet, on the lab and replayed.

Lab rows: the real no-op converge of the first 1, 2, 4 and 8 CPU lab hosts (``--limit``).
Replay rows: one lab host's commands and health probes are recorded (what each returned
and how long it took), then a converge of 10, 100 and 1,000 ``@fake`` hosts is run,
pyinfra's fake connector answering each command as the recorded host did (with each
host's own file digests) and each gate answered from the recorded probe after its
recorded duration (bench/pyinfra_replay.py, bench/replay_inventory.py). Each row: wall
time (median of --runs), control-node CPU (total, and per host), pyinfra operations per
host, remote commands per host (most of any host), health probes and the gate operations
that probed (rounds).

The upgrade rows replay a hotword change (every server's configuration changes, its
container is recreated and gated) across --upgrade hosts in percentage waves: planned
(the no-op's time plus, per wave, the recorded host's wave) against measured.

    python -m funasr_fleet.lab up --hosts 8 --gpu-hosts 0 --fresh
    pyinfra -y inventory/lab.py deploy.py
    python bench/scale.py --runs 3
"""

import argparse
import contextlib
import json
import os
import re
import resource
import runpy
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WRAPPER = [sys.executable, str(REPO / "bench" / "pyinfra_replay.py"), "-y"]
# The upgrade the replay measures: a hotword every server gets (its configuration changes).
UPGRADE_DATA = {"funasr_hotwords": {"规模测试": 12}}
UPGRADE_WAVES = ["10%", "30%"]  # after the canary: 10 hosts, then 30 at a time (of 100)


def cpu_seconds():
    """CPU time (user + system) of this process's finished children."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Run:
    """One converge: wall and CPU seconds, its counts (bench/pyinfra_replay.py), the
    operations it ran per host and the operations that changed a host."""

    wall: float
    cpu: float
    stats: dict
    ops_per_host: float
    changed: int


def converge(inventory, *extra, env=None, profile=None, changes=False):
    """One converge under the wrapper (``profile``: a file for cProfile's statistics).
    Exits unless it is a clean no-op (``changes`` False: the lab must be converged
    first) or, with ``changes``, it changed hosts without an error."""
    wrapper = WRAPPER if not profile else [sys.executable, "-m", "cProfile", "-o", profile, *WRAPPER[1:]]
    with tempfile.NamedTemporaryFile(suffix=".json") as stats:
        cpu, started = cpu_seconds(), time.monotonic()
        result = subprocess.run([*wrapper, *extra, inventory, "deploy.py"], cwd=REPO, text=True,
                                capture_output=True, env={**os.environ, **(env or {}),
                                                          "FUNASR_BENCH_STATS": stats.name})
        wall, cpu = time.monotonic() - started, cpu_seconds() - cpu
        output = result.stdout + result.stderr
        total = re.search(r"Grand total\s+(\S+)\s+(\S+)\s+(\S+)", output)
        clean = (result.returncode == 0 and total and total.group(3) == "-"
                 and (total.group(2) != "-") == changes)
        if not clean:
            sys.exit(f"not a clean {'change' if changes else 'no-op converge'} "
                     f"({inventory} {' '.join(extra)}):\n{output[-3000:]}")
        counts = json.load(open(stats.name))
        if not counts["commands"]:
            sys.exit(f"no host was reached ({inventory} {' '.join(extra)}):\n{output[-3000:]}")
        hosts = len(counts["commands"])
        return Run(wall, cpu, counts, int(total.group(1)) / hosts,
                   0 if total.group(2) == "-" else int(total.group(2)))


def measured(runs, inventory, *extra, env=None):
    """The median run (by wall time) of ``runs`` converges."""
    samples = sorted((converge(inventory, *extra, env=env) for _ in range(runs)), key=lambda run: run.wall)
    return samples[len(samples) // 2]


def lab_cpu_hosts():
    """The lab's CPU hosts, in inventory order, and the first one's data."""
    hosts = runpy.run_path(str(REPO / "inventory" / "lab.py"))["cpu"]
    return [name for name, _ in hosts], hosts[0][1]


def release_digests(inventory_path):
    """``{host: (compose.yaml sha256, config sha256)}`` of the release the deploy renders
    for each host of ``inventory_path`` (the compose file names its host, so each host's
    files and containers carry their own digests)."""
    from funasr_fleet.deploys.service import release_files
    from funasr_fleet.digest import sha256_text
    from funasr_fleet.hub import fetch_models
    from funasr_fleet.pyinfra_internals import load_inventory
    from funasr_fleet.settings import load_settings

    digests, models = {}, {}
    for host in load_inventory(inventory_path):
        settings = load_settings(host)
        key = (settings.funasr_models_endpoint, tuple(settings.funasr_models.values()))
        if key not in models:  # from the cache the lab's converge filled: no download
            models[key] = fetch_models(settings.funasr_models_endpoint, list(key[1]),
                                       settings.funasr_models_cache_dir)
        files, config_sha256 = release_files(settings, models[key], None)
        digests[host.name] = (sha256_text(files[-1][1]), config_sha256)
    return digests


@contextlib.contextmanager
def environment(env):
    """This process's environment with ``env`` added, for the duration."""
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for key, value in saved.items():
            os.environ.pop(key) if value is None else os.environ.__setitem__(key, value)


def responses(commands):
    """``{command: [answer, ...]}``: each recorded command's answers in the order it got
    them (a command sent twice may be answered differently, e.g. before and after a
    container was recreated)."""
    answers = {}
    for entry in commands:
        answers.setdefault(entry["command"], []).append(
            {"stdout": entry["stdout"], "stderr": entry["stderr"], "success": entry["ok"]})
    return answers


class Replay:
    """A recorded lab host, replayed as a fleet of @fake hosts."""

    def __init__(self, work, host, data):
        self.work, self.host, self.data = Path(work), host, data

    def record(self, *extra, changes=False):
        """Converge the recorded host alone, recording its commands and probes; returns
        the recording and the host's release digests at the end (what it runs now)."""
        path = self.work / "recording.json"
        run = converge("inventory/lab.py", "--limit", self.host, *extra, changes=changes,
                       env={"FUNASR_BENCH_RECORD": str(path)})
        return json.loads(path.read_text()), release_digests("inventory/lab.py")[self.host], run

    def env(self, size, recording, data=None, replaced=()):
        """The environment of a replayed converge of ``size`` hosts: each answers as the
        recording says, its own digests in place of the recorded host's ``replaced``
        (pairs: the recorded host's digest tuple, and the data with which the replayed
        hosts render theirs, on top of the recorded host's)."""
        commands = [entry for entry in recording["commands"] if entry["host"] == self.host]
        base = {key: value for key, value in self.data.items() if not key.startswith("ssh_")}
        spec = {"data": {**base, **(data or {})},
                "responses": responses(commands),
                "delay": statistics.median(entry["seconds"] for entry in commands)}
        (self.work / "recording.json").write_text(json.dumps(recording))
        env = {"FUNASR_BENCH_REPLAY": str(self.work / "recording.json"),
               "FUNASR_BENCH_INVENTORY": str(self.work / "inventory.json"), "FUNASR_BENCH_HOSTS": str(size)}
        substitute = {}
        for recorded, rendered_data in replaced:
            (self.work / "inventory.json").write_text(json.dumps({**spec, "data": {**base, **rendered_data}}))
            with environment(env):  # release_digests loads the replay inventory, which reads it
                rendered = release_digests("bench/replay_inventory.py")
            for name, digests in rendered.items():
                substitute.setdefault(name, []).extend([old, new] for old, new in zip(recorded, digests))
        (self.work / "inventory.json").write_text(json.dumps({**spec, "substitute": substitute}))
        return env


def profiled(size, env, path):
    """Profile one replayed no-op converge of ``size`` hosts; print where its time goes."""
    import pstats

    converge("bench/replay_inventory.py", env=env, profile=str(path))
    shutil.copy(path, REPO / ".lab" / "scale-profile.out")  # python -m pstats .lab/scale-profile.out
    print(f"\nProfile of one replayed converge of {size} hosts (cProfile; gevent greenlets "
          "share one core, so a function's own time is the reliable column):\n")
    pstats.Stats(str(path)).sort_stats("tottime").print_stats(25)


def waves_of(size, canary=1, waves=UPGRADE_WAVES):
    """How many waves the deploy plans for ``size`` hosts (funasr_fleet.waves)."""
    from funasr_fleet.waves import plan_waves

    return len(plan_waves([f"h{index}" for index in range(size)], canary, waves))


def row(kind, hosts, run):
    commands = max(run.stats["commands"].values(), default=0)
    return (f"| {hosts} | {kind} | {run.wall:.2f} | {run.cpu:.2f} | {run.cpu * 1000 / hosts:.0f} | "
            f"{run.ops_per_host:.1f} | {commands} | {run.stats['probes']} | {run.stats['probe_rounds']} |")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--lab", default="1,2,4,8", help="lab sizes (CPU hosts), comma-separated")
    parser.add_argument("--replay", default="10,100,1000", help="replayed fleet sizes")
    parser.add_argument("--upgrade", type=int, default=100, metavar="HOSTS",
                        help="replayed hosts of the upgrade rows (0: none)")
    parser.add_argument("--profile", type=int, metavar="HOSTS",
                        help="also profile one replayed no-op converge of HOSTS hosts (cProfile)")
    args = parser.parse_args(argv)
    names, data = lab_cpu_hosts()
    lab_sizes = [int(size) for size in args.lab.split(",") if size]
    if max(lab_sizes, default=1) > len(names):
        sys.exit(f"the lab has {len(names)} CPU hosts; run: python -m funasr_fleet.lab up "
                 f"--hosts {max(lab_sizes)} --gpu-hosts 0 --fresh && pyinfra -y inventory/lab.py deploy.py")
    rows, notes = [], []
    for size in lab_sizes:
        limits = [option for name in names[:size] for option in ("--limit", name)]
        rows.append(row("lab", size, measured(args.runs, "inventory/lab.py", *limits)))
    with tempfile.TemporaryDirectory() as work:
        replay = Replay(work, names[0], data)
        recording, digests, recorded_noop = replay.record()
        noop = {}
        for size in sorted({int(size) for size in args.replay.split(",") if size} | {args.upgrade} - {0}):
            env = replay.env(size, recording, replaced=[(digests, {})])
            noop[size] = measured(args.runs, "bench/replay_inventory.py", env=env)
            if str(size) in args.replay.split(","):
                rows.append(row("replay", size, noop[size]))
        if args.upgrade:
            notes.append(upgrade_row(replay, digests, args.upgrade, rows, noop[args.upgrade],
                                     recorded_noop))
        if args.profile:
            profiled(args.profile, replay.env(args.profile, recording, replaced=[(digests, {})]),
                     Path(work) / "profile")
    print(f"Command: `python bench/scale.py --runs {args.runs}` (no-op converges, median of "
          f"{args.runs}; CPU: the pyinfra process, user + system)\n")
    print("| hosts | fleet | wall s | CPU s | CPU ms per host | operations per host "
          "| remote commands per host | probes | probe rounds |")
    print("|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    print("\n".join(notes))


def upgrade_row(replay, old, size, rows, noop, recorded_noop):
    """Record the recorded host's hotword change, replay it on ``size`` hosts; append
    its row, return the planned-against-measured line. ``noop``: the replayed no-op of
    ``size`` hosts; ``recorded_noop``: the recorded host's own no-op run."""
    overrides = REPO / ".lab" / "host_data.json"
    kept = overrides.read_text() if overrides.is_file() else None
    current = json.loads(kept) if kept else {}
    try:
        overrides.write_text(json.dumps({**current, replay.host: {**current.get(replay.host, {}),
                                                                  **UPGRADE_DATA}}))
        recording, new, recorded = replay.record(changes=True)
    finally:  # the lab host back to its configuration
        overrides.write_text(kept) if kept is not None else overrides.unlink()
        converge("inventory/lab.py", "--limit", replay.host, changes=True)
    env = replay.env(size, recording, data={**UPGRADE_DATA, "funasr_waves": UPGRADE_WAVES},
                     replaced=[(old, {}), (new, UPGRADE_DATA)])
    run = converge("bench/replay_inventory.py", env=env, changes=True)
    waves = waves_of(size)
    rows.append(row(f"replay, upgrade ({waves} waves)", size, run))
    # Planned: the fleet's no-op, plus per wave what a wave cost the recorded lab host
    # (its upgrade run less its no-op run: the changes, the restart and the gate).
    wave = recorded.wall - recorded_noop.wall
    planned = noop.wall + waves * wave
    return (f"\nUpgrade of {size} replayed hosts (a hotword change: each server's configuration "
            f"changes, its container is recreated and gated; canary 1, then waves of "
            f"{', '.join(UPGRADE_WAVES)}: {waves} waves): planned {planned:.1f} s (the no-op's "
            f"{noop.wall:.1f} s + {waves} x {wave:.1f} s, one wave on {replay.host}: its upgrade "
            f"run {recorded.wall:.1f} s less its no-op run {recorded_noop.wall:.1f} s), measured "
            f"{run.wall:.1f} s; {run.changed} operations changed a host "
            f"({run.changed / size:.0f} per host).")


if __name__ == "__main__":
    main()
