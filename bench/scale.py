"""
Benchmark: how a no-op converge grows with the fleet, on the lab and replayed.

Lab rows: the real converge of the first 1, 2, 4 and 8 CPU lab hosts (``--limit``).
Replay rows: one lab host's commands and health probes are recorded (what each returned
and how long it took), then a converge of 10, 100 and 1,000 ``@fake`` hosts is run,
pyinfra's fake connector answering each command as the recorded host did and each gate
answered from the recorded probe (bench/pyinfra_replay.py, bench/replay_inventory.py).
Each row: wall time (median of --runs), control-node CPU per host, remote commands per
host (most of any host), health probes and the gate operations that probed (rounds).

    python -m funasr_fleet.lab up --hosts 8 --gpu-hosts 0 --fresh
    pyinfra -y inventory/lab.py deploy.py
    python bench/scale.py --runs 3
"""

import argparse
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
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WRAPPER = [sys.executable, str(REPO / "bench" / "pyinfra_replay.py"), "-y"]


def cpu_seconds():
    """CPU time (user + system) of this process's finished children."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def converge(inventory, *extra, env=None, profile=None):
    """One no-op converge under the wrapper: ``(wall s, CPU s, stats)``; exits when it
    changed anything (the lab must be converged first). ``profile``: a file for
    cProfile's statistics of the run."""
    wrapper = WRAPPER if not profile else [sys.executable, "-m", "cProfile", "-o", profile, *WRAPPER[1:]]
    with tempfile.NamedTemporaryFile(suffix=".json") as stats:
        cpu, started = cpu_seconds(), time.monotonic()
        result = subprocess.run([*wrapper, *extra, inventory, "deploy.py"], cwd=REPO, text=True,
                                capture_output=True, env={**os.environ, **(env or {}),
                                                          "FUNASR_BENCH_STATS": stats.name})
        wall, cpu = time.monotonic() - started, cpu_seconds() - cpu
        output = result.stdout + result.stderr
        total = re.search(r"Grand total\s+(\S+)\s+(\S+)\s+(\S+)", output)
        if result.returncode != 0 or not total or total.group(2) != "-" or total.group(3) != "-":
            sys.exit(f"not a clean no-op converge ({inventory} {' '.join(extra)}):\n{output[-3000:]}")
        counts = json.load(open(stats.name))
        if not counts["commands"]:
            sys.exit(f"no host was reached ({inventory} {' '.join(extra)}):\n{output[-3000:]}")
        return wall, cpu, counts


def measured(runs, inventory, *extra, env=None):
    """``(median wall, median CPU, stats of the last run)`` of ``runs`` converges."""
    samples = [converge(inventory, *extra, env=env) for _ in range(runs)]
    return (statistics.median(s[0] for s in samples), statistics.median(s[1] for s in samples),
            samples[-1][2])


def lab_cpu_hosts():
    """The lab's CPU hosts, in inventory order, and the first one's data."""
    hosts = runpy.run_path(str(REPO / "inventory" / "lab.py"))["cpu"]
    return [name for name, _ in hosts], hosts[0][1]


def replay_spec(recording, host, data):
    """What bench/replay_inventory.py gives each replayed host: ``host``'s data (without
    its SSH settings) and recorded answers, and the median recorded command duration."""
    commands = [entry for entry in recording["commands"] if entry["host"] == host]
    return {"data": {key: value for key, value in data.items() if not key.startswith("ssh_")},
            "responses": {entry["command"]: {"stdout": entry["stdout"], "stderr": entry["stderr"],
                                             "success": entry["ok"]} for entry in commands},
            "delay": statistics.median(entry["seconds"] for entry in commands)}


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


def substitutions(recorded, replayed):
    """Per replayed host, the ``[old, new]`` text pairs that turn the recorded host's
    answers into its own (its compose.yaml and config digests)."""
    return {name: [[old, new] for old, new in zip(recorded, digests)]
            for name, digests in replayed.items()}


def profiled(size, spec, base, recorded, recording, path):
    """Profile one replayed converge of ``size`` hosts; print where its time goes."""
    import pstats

    env = {"FUNASR_BENCH_REPLAY": str(recording), "FUNASR_BENCH_INVENTORY": str(spec),
           "FUNASR_BENCH_HOSTS": str(size)}
    os.environ.update(env)
    spec.write_text(json.dumps(base))
    base["substitute"] = substitutions(recorded, release_digests("bench/replay_inventory.py"))
    spec.write_text(json.dumps(base))
    converge("bench/replay_inventory.py", env=env, profile=str(path))
    print(f"\nProfile of one replayed converge of {size} hosts (cProfile; gevent greenlets "
          "share one core, so a function's own time is the reliable column):\n")
    shutil.copy(path, REPO / ".lab" / "scale-profile.out")  # for pstats: python -m pstats .lab/scale-profile.out
    stats = pstats.Stats(str(path))
    stats.sort_stats("tottime").print_stats(25)


def row(kind, hosts, wall, cpu, stats):
    commands = max(stats["commands"].values(), default=0)
    return (f"| {hosts} | {kind} | {wall:.2f} | {cpu * 1000 / hosts:.0f} | {commands} | "
            f"{stats['probes']} | {stats['probe_rounds']} |")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--lab", default="1,2,4,8", help="lab sizes (CPU hosts), comma-separated")
    parser.add_argument("--replay", default="10,100,1000", help="replayed fleet sizes")
    parser.add_argument("--profile", type=int, metavar="HOSTS",
                        help="also profile one replayed converge of HOSTS hosts (cProfile): "
                             "the functions that take the most time")
    args = parser.parse_args(argv)
    names, data = lab_cpu_hosts()
    lab_sizes = [int(size) for size in args.lab.split(",") if size]
    if lab_sizes and max(lab_sizes) > len(names):
        sys.exit(f"the lab has {len(names)} CPU hosts; run: python -m funasr_fleet.lab up "
                 f"--hosts {max(lab_sizes)} --gpu-hosts 0 --fresh && pyinfra -y inventory/lab.py deploy.py")
    rows = []
    for size in lab_sizes:
        limits = [option for name in names[:size] for option in ("--limit", name)]
        rows.append(row("lab", size, *measured(args.runs, "inventory/lab.py", *limits)))
    with tempfile.TemporaryDirectory() as work:
        recording = Path(work) / "recording.json"
        converge("inventory/lab.py", "--limit", names[0], env={"FUNASR_BENCH_RECORD": str(recording)})
        spec = Path(work) / "inventory.json"
        base = replay_spec(json.loads(recording.read_text()), names[0], data)
        recorded = release_digests("inventory/lab.py")[names[0]]
        for size in (int(size) for size in args.replay.split(",") if size):
            env = {"FUNASR_BENCH_REPLAY": str(recording), "FUNASR_BENCH_INVENTORY": str(spec),
                   "FUNASR_BENCH_HOSTS": str(size)}
            spec.write_text(json.dumps(base))
            os.environ.update(env)
            base["substitute"] = substitutions(recorded, release_digests("bench/replay_inventory.py"))
            spec.write_text(json.dumps(base))
            rows.append(row("replay", size, *measured(args.runs, "bench/replay_inventory.py", env=env)))
        if args.profile:
            profiled(args.profile, spec, base, recorded, recording, Path(work) / "profile")
    print(f"Command: `python bench/scale.py --runs {args.runs}` (no-op converge, median of "
          f"{args.runs}; CPU: the pyinfra process, user + system)\n")
    print("| hosts | fleet | wall s | CPU ms per host | remote commands per host | probes | probe rounds |")
    print("|---|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
