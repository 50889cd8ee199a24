"""
Benchmark: an image upgrade of the lab's CPU hosts, staged (funasr-fleet) against the
naive per-host flow.

- staged: `pyinfra -y inventory/lab.py deploy.py` with the new version: the image goes
  to every host first (old servers keep serving), then the servers change in waves;
- naive: host after host, stop the server, load the image, start the new one (what the
  hand-written guides do), timed as the serial baseline (hosts x per-host time);
- staged without an init (`funasr_container_init = False`): the FunASR server ignores
  SIGTERM as PID 1 (so does the lab's replica), so every stop waits the 20 s grace period.

Each CPU host is probed every --interval seconds throughout (the real probe, real
speech); its service gap is the longest time between two good probes. The two releases
are different image builds (different image IDs), so the image really travels.

    python -m funasr_fleet.lab up --hosts 3 && pyinfra -y inventory/lab.py deploy.py
    python bench/upgrade.py
"""

import argparse
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from funasr_fleet.images import prepare_tarball  # noqa: E402
from funasr_fleet.lab import images  # noqa: E402
from funasr_fleet.lab.aptconf import debian_mirror  # noqa: E402
from funasr_fleet.lab.state import lab_dir, load_state  # noqa: E402
from funasr_fleet.probe import probe  # noqa: E402

PYINFRA = str(Path(sys.executable).with_name("pyinfra"))
TAG = "funasr-runtime-sdk-online-cpu-{}"
OLD, NEW = "0.1.10", "0.1.11"


class Prober(threading.Thread):
    """Probes one URL every ``interval`` s; ``gap()`` is the longest time between good probes."""

    def __init__(self, url, interval):
        super().__init__(daemon=True)
        self.url, self.interval, self.good, self.stopped = url, interval, [], threading.Event()

    def run(self):
        while not self.stopped.is_set():
            if probe(self.url, timeout=2, connect_timeout=1).ok:
                self.good.append(time.monotonic())
            self.stopped.wait(self.interval)

    def gap(self):
        return max((b - a for a, b in zip(self.good, self.good[1:])), default=float("nan"))


def set_version(hosts, version, init=True):
    data = {name: {"funasr_version": version, "funasr_container_init": init} for name in hosts}
    (lab_dir() / "host_data.json").write_text(json.dumps(data))


def deploy(*args):
    started = time.monotonic()
    result = subprocess.run([PYINFRA, "-y", "inventory/lab.py", "deploy.py", *args], cwd=REPO,
                            capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"deploy {' '.join(args)} failed:\n{(result.stdout + result.stderr)[-3000:]}")
    return time.monotonic() - started


def ssh(state, entry, command, stdin=None):
    return subprocess.run(
        ["ssh", "-o", "BatchMode=yes", "-o", f"UserKnownHostsFile={state['known_hosts']}",
         "-p", str(entry["ssh_port"]), "-i", state["ssh_key"], f"root@{entry['address']}", command],
        stdin=stdin, check=True, capture_output=True)


def measured(state, hosts, interval, run):
    """Run ``run()`` with a prober per host; return (seconds, {host: gap})."""
    probers = {entry["name"]: Prober(f"ws://127.0.0.1:{entry['service_ports']['10095']}", interval)
               for entry in hosts}
    for prober in probers.values():
        prober.start()
    time.sleep(2 * interval)
    seconds = run()
    time.sleep(2 * interval)
    for prober in probers.values():
        prober.stopped.set()
        prober.join()
    return seconds, {name: prober.gap() for name, prober in probers.items()}


def forget_new_image(state, hosts, standin, init=True):
    """Hosts lose the new image (and the old release runs), so each run transfers it."""
    set_version([entry["name"] for entry in hosts], OLD, init)
    deploy()
    for entry in hosts:
        ssh(state, entry, f"docker rmi {standin}:{TAG.format(NEW)} >/dev/null 2>&1 || true")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--interval", type=float, default=0.25, help="seconds between probes")
    args = parser.parse_args(argv)
    state = load_state()
    hosts = [entry for entry in state["hosts"] if "gpu" not in entry["groups"]]
    names = [entry["name"] for entry in hosts]
    standin = state["images"]["standin"]
    # The new release: a separate build, so its image ID differs from the old one's.
    images.build_standin(images.build_base(debian_mirror()), (TAG.format(NEW),),
                         env={"FUNASR_STANDIN_BUILD": "bench-new-release"})
    tarball = prepare_tarball(f"{standin}:{TAG.format(NEW)}", lab_dir() / "images")
    try:
        forget_new_image(state, hosts, standin)
        set_version(names, NEW)
        staged_s, staged_gaps = measured(state, hosts, args.interval, deploy)

        forget_new_image(state, hosts, standin, init=False)
        set_version(names, NEW, init=False)
        no_init_s, no_init_gaps = measured(state, hosts, args.interval, deploy)

        forget_new_image(state, hosts, standin)
        per_host = {}

        def naive():
            set_version(names, NEW)
            for entry in hosts:  # stop, transfer, start: the outage includes the transfer
                started = time.monotonic()
                ssh(state, entry, "docker compose --project-directory /opt/funasr -p funasr stop")
                with open(tarball.path, "rb") as source:
                    ssh(state, entry, "docker load", stdin=source)
                deploy("--limit", entry["name"])
                per_host[entry["name"]] = time.monotonic() - started
            return sum(per_host.values())

        naive_s, naive_gaps = measured(state, hosts, args.interval, naive)
    finally:
        (lab_dir() / "host_data.json").unlink(missing_ok=True)
        images.build_all()  # the lab's own stand-in tags again
    print(f"Command: `python bench/upgrade.py --interval {args.interval}` ({len(hosts)} CPU hosts, "
          f"{OLD} -> {NEW}, image tarball {tarball.path.stat().st_size / 1e6:.0f} MB, probes every "
          f"{args.interval} s)\n")
    print("| measure | staged (funasr-fleet) | staged, no init | naive per host, no pre-pull |")
    print("|---|---|---|---|")
    for name in names:
        print(f"| service gap, {name} | {staged_gaps[name]:.2f} s | {no_init_gaps[name]:.2f} s | "
              f"{naive_gaps[name]:.2f} s |")
    print(f"| whole upgrade | {staged_s:.1f} s | {no_init_s:.1f} s | {naive_s:.1f} s (serial baseline: "
          f"{len(hosts)} x {naive_s / len(hosts):.1f} s) |")


if __name__ == "__main__":
    main()
