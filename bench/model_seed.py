"""
Benchmark: seeding models to lab hosts.

1. Throughput: seeding a whole model set (--size bytes per model file) into an empty
   directory on one lab host (the whole ``pyinfra`` run: start-up, facts, staging,
   transfer, swap), against a raw ``cat FILES | ssh HOST 'cat > FILE'`` of the same bytes
   to the same filesystem in the same run (target: at least 0.8x the raw rate). The raw copy runs twice: with
   ssh's default cipher (the command as written) and with the ciphers the seeding uses
   (``funasr_models_ssh_ciphers``), so the table shows what the cipher choice buys and
   what the tool costs on equal terms. Both the rsync path and pyinfra's own file
   transfer (hosts without rsync) are measured, and the rsync step alone (the command
   line the seeding runs, without pyinfra's start-up, facts and staging commands).
2. No-op re-seed: every host already holds the set; wall time of the seeding deploy on
   all lab hosts, median of --runs (target: under 2 s for 1.5 GB on 3 hosts).

The models come from a stand-in hub started here on 127.0.0.1 and are cached under
.lab/bench-models (kept between runs). The scratch directory on the hosts is removed
at the end; the FunASR service is not touched.

    python -m funasr_fleet.lab up --hosts 3
    python bench/model_seed.py --size 150000000 --runs 5 --pairs 3
"""

import argparse
import os
import re
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from funasr_fleet.pyinfra_internals import load_inventory  # noqa: E402
from funasr_fleet.facts.models import rsync_version  # noqa: E402
from funasr_fleet.hub import fetch_models, fleet_model_sets  # noqa: E402
from funasr_fleet.lab.standin_hub import StandinHub  # noqa: E402
from funasr_fleet.lab.state import lab_dir, load_state  # noqa: E402
from funasr_fleet.models import transfer_tree  # noqa: E402
from funasr_fleet.operations.models import model_rsync_flags  # noqa: E402
from funasr_fleet.settings import load_settings  # noqa: E402
from funasr_fleet.transfer import (SshRsyncCommand, cpu_has_aes, ssh_ciphers,  # noqa: E402
                                   ssh_command, ssh_destination)

PYINFRA = str(Path(sys.executable).with_name("pyinfra"))
TARGET = "/opt/funasr-bench/models"
# The raw copy lands next to the seeded models: the same filesystem (a lab host's /tmp is
# a tmpfs, which made raw copies there look faster than any copy to disk can be).
RAW_TARGET = "/opt/funasr-bench/raw"


def ssh(host, command, stdin=None, ciphers=()):
    """Run ``command`` on a lab host with the system ssh client, as the seeding's rsync does."""
    return subprocess.run([*ssh_command(host.data, ciphers), ssh_destination(host), command],
                          stdin=stdin, check=True, capture_output=True)


def seed(env, *limit):
    """Run the seeding deploy; return (seconds, changed operations)."""
    started = time.monotonic()
    result = subprocess.run([PYINFRA, "-y", "inventory/lab.py", "bench/seed_deploy.py", *limit],
                            cwd=REPO, env=env, capture_output=True, text=True)
    elapsed = time.monotonic() - started
    output = result.stdout + result.stderr
    total = re.search(r"Grand total\s+(\S+)\s+(\S+)\s+(\S+)", output)
    if result.returncode != 0 or not total:
        sys.exit(f"seeding deploy failed:\n{output[-3000:]}")
    return elapsed, total.group(2)


def raw_copy(host, files, ciphers=()):
    """``cat FILES | ssh [-c CIPHERS] HOST 'cat > FILE'``; return seconds."""
    started = time.monotonic()
    cat = subprocess.Popen(["cat", *map(str, files)], stdout=subprocess.PIPE)
    ssh(host, f"mkdir -p {RAW_TARGET.rpartition('/')[0]} && cat > {RAW_TARGET}",
        stdin=cat.stdout, ciphers=ciphers)
    cat.wait()
    elapsed = time.monotonic() - started
    ssh(host, f"rm -f {RAW_TARGET}")
    return elapsed


def rsync_alone(host, command):
    """The seeding's rsync command line alone, into an empty directory; return seconds."""
    ssh(host, f"mkdir -p {TARGET}")
    started = time.monotonic()
    subprocess.run(command, shell=True, check=True, capture_output=True)
    return time.monotonic() - started


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--size", type=int, default=150_000_000, help="bytes per model file")
    parser.add_argument("--runs", type=int, default=5, help="no-op re-seeds to time")
    parser.add_argument("--pairs", type=int, default=3, help="raw/seed pairs per transfer path")
    args = parser.parse_args(argv)
    cache = lab_dir() / "bench-models" / str(args.size)
    inventory = load_inventory("inventory/lab.py")
    hosts = [inventory.get_host(entry["name"]) for entry in load_state()["hosts"]]
    first = hosts[0]
    specs = [spec for _, _, spec in fleet_model_sets(inventory)]  # every host's set
    first_settings = load_settings(first)
    first_specs = list(first_settings.funasr_models.values())
    # the lab hosts are containers on this machine: the same CPU at both ends
    ciphers = ssh_ciphers(first_settings.funasr_models_ssh_ciphers, cpu_has_aes())
    hub = StandinHub(size=args.size).start()  # after the inventory: pyinfra patches threads
    try:
        fetch_models(hub.url, specs, cache)
        cached = fetch_models(hub.url, first_specs, cache)  # what the measured host receives
    finally:
        hub.stop()
    files = [model.directory / entry["path"] for model in cached for entry in model.files]
    total = sum(path.stat().st_size for path in files)
    env = dict(os.environ, BENCH_ENDPOINT="http://127.0.0.1:1", BENCH_CACHE=str(cache),
               BENCH_TARGET=TARGET)
    clean = f"rm -rf {shlex.quote(TARGET.rpartition('/')[0])}"
    limit = ("--limit", first.name)
    remote_rsync = rsync_version(ssh(first, "rsync --version").stdout.decode().splitlines()[0])
    tree = transfer_tree(cache, [(f"{model.spec.dirname}/{entry['path']}", model.directory / entry["path"])
                                 for model in cached for entry in model.files])
    rsync_command = SshRsyncCommand(f"{tree}/", f"{TARGET}/", model_rsync_flags(remote_rsync),
                                    ciphers).command_line(first)

    rows = []
    for label, measure in (
            ("whole pyinfra run, rsync over SSH", lambda: seed(dict(env, BENCH_RSYNC="1"), *limit)[0]),
            ("its rsync step alone", lambda: rsync_alone(first, rsync_command)),
            ("whole pyinfra run, pyinfra file transfer (no rsync)",
             lambda: seed(dict(env, BENCH_RSYNC="0"), *limit)[0])):
        raws, same, seeds = [], [], []
        for _ in range(args.pairs):  # alternate, so all see the same machine
            ssh(first, clean)
            raws.append(raw_copy(first, files))
            same.append(raw_copy(first, files, ciphers))
            seeds.append(measure())
        rows.append((label, *map(statistics.median, (raws, same, seeds))))
    for host in hosts:
        ssh(host, clean)
    seed(env)  # every host holds the set
    noop = []
    for _ in range(args.runs):
        seconds, changed = seed(env)
        if changed != "-":
            sys.exit(f"the re-seed changed {changed} operations; expected none")
        noop.append(seconds)
    for host in hosts:
        ssh(host, clean)

    print(f"Command: `python bench/model_seed.py --size {args.size} --runs {args.runs} "
          f"--pairs {args.pairs}` ({first.name}'s model set: {len(files)} files, "
          f"{total / 1e9:.2f} GB; medians of {args.pairs} alternating raw/raw/seed rounds; "
          f"seeding ciphers: {','.join(ciphers) or 'ssh default'})\n")
    print("| measure | seed | raw `cat \\| ssh` | raw with the seeding's ciphers | result |")
    print("|---|---|---|---|---|")
    for label, raw, same, seconds in rows:
        print(f"| seed {first.name}: {label} | {seconds:.2f} s, {total / seconds / 1e6:.0f} MB/s | "
              f"{raw:.2f} s, {total / raw / 1e6:.0f} MB/s | {same:.2f} s, {total / same / 1e6:.0f} MB/s | "
              f"{raw / seconds:.2f}x raw (target >= 0.8x); {same / seconds:.2f}x same-cipher raw |")
    print(f"| no-op re-seed, {len(hosts)} hosts, median of {args.runs} | "
          f"{statistics.median(noop):.2f} s (min {min(noop):.2f}, max {max(noop):.2f}) | | | "
          f"target < 2 s |")


if __name__ == "__main__":
    main()
