"""
The lab's ModelScope stand-in as a background process (started by `lab up`, stopped by
`lab down`), listening on 127.0.0.1; its request log and faults file live in the lab dir.
"""

import os
import signal
import subprocess
import sys
import time

from .engine import LabError


def hub_files(directory):
    """Paths of the hub's pid, URL, request log and faults files in the lab dir."""
    return {name: directory / f"hub.{name}" for name in ("pid", "url", "jsonl", "faults.json")}


def running_pid(directory):
    """PID of the lab's hub if it runs, else None."""
    pid_file = hub_files(directory)["pid"]
    try:
        pid = int(pid_file.read_text())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid


def start_hub(directory, timeout=10):
    """Start the hub unless it runs; return its record for the lab state."""
    files = hub_files(directory)
    if running_pid(directory) is None:
        files["url"].unlink(missing_ok=True)
        with open(directory / "hub.stderr", "ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "funasr_fleet.lab.standin_hub", "--port", "0",
                 "--log", str(files["jsonl"]), "--faults", str(files["faults.json"]),
                 "--url-file", str(files["url"])],
                stdout=subprocess.DEVNULL, stderr=log, start_new_session=True)
        files["pid"].write_text(str(process.pid))
        deadline = time.monotonic() + timeout
        while not files["url"].is_file():
            if process.poll() is not None or time.monotonic() > deadline:
                raise LabError(f"the hub stand-in did not start; see {directory / 'hub.stderr'}")
            time.sleep(0.1)
    return {"url": files["url"].read_text().strip(), "log": str(files["jsonl"]),
            "faults": str(files["faults.json"])}


def stop_hub(directory, remove_log=False):
    """Stop the lab's hub if it runs; ``remove_log`` also empties its request log."""
    pid = running_pid(directory)
    if pid is not None:
        os.kill(pid, signal.SIGTERM)
    files = hub_files(directory)
    files["pid"].unlink(missing_ok=True)
    if remove_log:
        files["jsonl"].unlink(missing_ok=True)
