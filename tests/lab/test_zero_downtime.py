"""
Zero-downtime upgrades through the lab's load balancer (lab-5, nginx stream in front of the
2pass servers lab-1..3): clients stream speech at microphone pace through it, back to back,
during a whole upgrade, and no session fails.
"""

import subprocess
import sys
import threading
import time

import pytest
import yaml

from conftest import REPO
from funasr_fleet.probe import probe

pytestmark = pytest.mark.lab

V1, V2 = "0.1.10", "0.1.11"
CLIENTS = 2


def cpu_hosts(lab):
    return [name for name in lab.hosts if not lab.is_gpu(name)]


def set_version(lab, version):
    lab.set_host_data({name: {"funasr_version": version} for name in cpu_hosts(lab)})


def stream_until(stop, url, sessions):
    """One client: realtime sessions back to back until ``stop``; each appended as
    ``(started, ended, ok, error)`` (time.time())."""
    while not stop.is_set():
        started = time.time()
        result = probe(url, mode="2pass", realtime=True, timeout=10)
        sessions.append((started, time.time(), result.ok, None if result.ok else
                         f"{result.stage}: {result.error}"))


@pytest.fixture
def fronted_lab(lab):
    set_version(lab, V1)
    assert lab.deploy().returncode == 0
    yield lab
    lab.set_host_data({})
    assert lab.deploy().returncode == 0  # back to the lab's default release


def streaming(url, run):
    """``run()`` while CLIENTS clients stream through ``url`` back to back (from before it
    starts until after it ends); returns ``(its result, every session, began, finished)``."""
    stop, clients = threading.Event(), []
    for _ in range(CLIENTS):
        sessions = []
        thread = threading.Thread(target=stream_until, args=(stop, url, sessions), daemon=True)
        thread.start()
        clients.append((thread, sessions))
    time.sleep(4)  # sessions in flight before the run starts
    began = time.time()
    result = run()
    finished = time.time()
    time.sleep(4)
    stop.set()
    for thread, _ in clients:
        thread.join(timeout=30)
    for _, sessions in clients:
        assert sessions[0][0] < began and sessions[-1][1] > finished
        gaps = [nxt[0] - prev[1] for prev, nxt in zip(sessions, sessions[1:])]
        assert max(gaps) < 1.0, gaps  # back to back: no pause in which a failure could hide
    return result, [session for _, sessions in clients for session in sessions], began, finished


def balancer_url(lab):
    return f"ws://127.0.0.1:{lab.entry(lab.balancers[0])['service_ports']['10095']}"


def test_a_client_streaming_through_the_balancer_sees_no_failed_session_during_an_upgrade(fronted_lab):
    lab = fronted_lab
    balancer = lab.balancers[0]
    before = {name: lab.container(name)["State"]["StartedAt"] for name in cpu_hosts(lab)}

    def upgrade():
        """The README's recipe for a mixed fleet: --limit cpu alone is refused with the
        command to run (nothing changes), and that command upgrades the CPU servers."""
        set_version(lab, V2)
        refused = lab.deploy("--limit", "cpu")
        assert refused.returncode != 0 and "Nothing was changed on any host." in refused.output
        assert "Run it with the balancer: pyinfra -y inventory/lab.py deploy.py --limit cpu --limit lb" \
            in refused.output
        return lab.deploy("--limit", "cpu", "--limit", "lb")
    result, sessions, _, _ = streaming(balancer_url(lab), upgrade)
    assert result.returncode == 0, result.output[-4000:]
    # The upgrade happened: every server restarted on v2, drained first, wave by wave.
    for name in cpu_hosts(lab):
        container = lab.container(name)
        assert container["Config"]["Image"].endswith(V2) and container["State"]["StartedAt"] != before[name]
    # The clients streamed the whole time, and not one session failed.
    failures = [session for session in sessions if not session[2]]
    assert failures == [], failures
    # each server was drained before its wave restarted it (the canary alone first)
    drained = [line.split("] drained: ", 1)[1] for line in result.output.splitlines()
               if f"[{balancer}] drained: " in line]
    assert drained[0] == "lab-1 (sessions begun before finished)", drained
    assert all(any(name in line for line in drained[1:]) for name in cpu_hosts(lab)[1:]), drained


def test_a_daemon_json_change_restarts_docker_wave_by_wave_under_live_sessions(lab):
    """A key only daemon.json holds (registry mirrors; no pull uses it here): Docker
    restarts on each host in its wave, drained first; live-restore keeps every FunASR
    container running, and the clients streaming through the balancer lose no session."""
    mirrors = 'docker_registry_mirrors=["http://127.0.0.1:5999"]'
    containers = {name: lab.container(name)["State"]["StartedAt"] for name in lab.hosts}
    docker = {name: lab.docker_started(name) for name in lab.hosts}
    try:
        result, sessions, _, _ = streaming(balancer_url(lab), lambda: lab.deploy("--data", mirrors))
        assert result.returncode == 0, result.output[-4000:]
        restarted = {name: lab.docker_started(name) for name in lab.hosts}
        assert all(restarted[name] > docker[name] for name in lab.hosts), (docker, restarted)
        # wave by wave: lab-1 (canary), then lab-2 and lab-3, then lab-4
        assert restarted["lab-1"] < min(restarted["lab-2"], restarted["lab-3"])
        assert max(restarted["lab-2"], restarted["lab-3"]) < restarted["lab-4"]
        assert {name: lab.container(name)["State"]["StartedAt"] for name in lab.hosts} == containers
        assert [session for session in sessions if not session[2]] == []
        assert "Docker restarts next: daemon.json changes" in result.output
    finally:
        assert lab.deploy().returncode == 0  # back to the lab's daemon.json, wave by wave


def test_clients_are_pointed_at_the_balancer(lab):
    balancer = lab.balancers[0]
    printed = subprocess.run([sys.executable, "-m", "funasr_fleet", "xiaozhi-config", "inventory/lab.py"],
                             cwd=REPO, capture_output=True, text=True, timeout=120)
    assert printed.returncode == 0, printed.stderr
    assert f"load balancer {balancer}" in printed.stdout.splitlines()[0]
    server = yaml.safe_load(printed.stdout)["ASR"]["FunASRServer"]
    assert server["port"] == lab.entry(balancer)["service_ports"]["10095"] and server["is_ssl"] is False
