"""
Benchmark: the no-op second converge of the lab (probes included).

Measures the wall time of `pyinfra -y inventory/lab.py deploy.py` on a converged lab
(median of --runs runs) and counts the remote commands each host runs in one no-op
converge (pyinfra -vv prints every command and fact command it sends as `>>>`).
Prints a Markdown table for docs/performance.md.

    python -m funasr_fleet.lab up --hosts 3 && pyinfra -y inventory/lab.py deploy.py
    python bench/noop_converge.py --runs 5
"""

import argparse
import re
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PYINFRA = str(Path(sys.executable).with_name("pyinfra"))
COMMAND = [PYINFRA, "-y", "inventory/lab.py", "deploy.py"]


def converge(*extra):
    """Run one converge; return (seconds, output). Fails loudly if it changed anything."""
    started = time.monotonic()
    result = subprocess.run([*COMMAND, *extra], cwd=REPO, capture_output=True, text=True)
    elapsed = time.monotonic() - started
    output = result.stdout + result.stderr
    total = re.search(r"Grand total\s+(\S+)\s+(\S+)\s+(\S+)", output)
    if result.returncode != 0 or not total or total.group(2) != "-" or total.group(3) != "-":
        sys.exit(f"not a clean no-op converge (is the lab converged?):\n{output[-3000:]}")
    return elapsed, output


def commands_per_host(output):
    """Count `[host] >>> command` lines per host in -vv output."""
    plain = re.sub(r"\x1b\[[0-9;]*m", "", output)
    return Counter(match.group(1) for match in re.finditer(r"^\[([^\]]+)\]\s*>>>", plain, re.M))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    converge()  # settle: the lab must already be converged; this checks it
    times = [converge()[0] for _ in range(args.runs)]
    counts = commands_per_host(converge("-vv")[1])
    print(f"Command: `python bench/noop_converge.py --runs {args.runs}` "
          f"(no-op converge: `{' '.join(['pyinfra'] + COMMAND[1:])}`)\n")
    print("| measure | value | target |")
    print("|---|---|---|")
    print(f"| wall time, median of {args.runs} | {statistics.median(times):.2f} s "
          f"(min {min(times):.2f}, max {max(times):.2f}) | <= 1.5 s |")
    for host, count in sorted(counts.items()):
        print(f"| remote commands, {host} | {count} | <= 3 |")


if __name__ == "__main__":
    main()
