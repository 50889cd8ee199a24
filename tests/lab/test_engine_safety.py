"""
Host-wide changes cannot take the fleet down (issue 12): a bad registry mirror is refused
by validation before any host changes; a daemon.json with which dockerd cannot start is
replaced by the previous one, Docker started again and the host failed, while its server
keeps serving (live-restore); a Docker unit left failed by an earlier run is reset and
started by the next run, without hand work.
"""

import pytest

from conftest import grand_total

pytestmark = pytest.mark.lab


def started_at(lab):
    return {name: lab.container(name)["State"]["StartedAt"] for name in lab.hosts}


def test_a_registry_mirror_that_is_not_a_url_is_refused_before_any_host_changes(lab):
    before = {name: lab.ssh(name, "sha256sum /etc/docker/daemon.json") for name in lab.hosts}
    result = lab.deploy("--data", 'docker_registry_mirrors=["not a url"]')
    assert result.returncode != 0
    assert "docker_registry_mirrors = ['not a url'] (from --data on the command line): " \
           "entry 'not a url' is not an http(s) URL" in result.output, result.output[-3000:]
    assert "Beginning operation run" not in result.output
    assert {name: lab.ssh(name, "sha256sum /etc/docker/daemon.json") for name in lab.hosts} == before


def test_docker_that_does_not_come_back_fails_the_canary_only_with_its_previous_daemon_json(lab):
    """A daemon.json that passes every check (ours and dockerd --validate, which does not
    look at paths or mirrors) but with which dockerd cannot start on the canary: here a
    data-root that is a file there (elsewhere the directory would simply be made). The
    canary gets its previous daemon.json back, Docker starts again with it, its server was
    never down; the host fails with one line naming the key, and no other host restarts
    Docker or gets the new file."""
    from funasr_fleet.probe import TlsPolicy, wait_until_healthy

    canary, others = lab.hosts[0], lab.hosts[1:]
    lab.ssh(canary, "touch /srv/docker-root-is-a-file")
    before = {name: lab.ssh(name, "sha256sum /etc/docker/daemon.json") for name in lab.hosts}
    docker = {name: lab.docker_started(name) for name in lab.hosts}
    started = lab.container(canary)["State"]["StartedAt"]
    try:
        result = lab.deploy("--data", "docker_data_root=/srv/docker-root-is-a-file")
    finally:
        lab.ssh(canary, "rm -f /srv/docker-root-is-a-file")
    assert result.returncode != 0
    failure = [line.strip() for line in result.output.splitlines() if "Docker did not start" in line]
    assert failure == [
        f"[{canary}] Docker did not start with the new daemon.json (changed: data-root (docker_data_root); "
        "Unable to get the full path to root (/srv/docker-root-is-a-file): canonical path points to a "
        "file '/srv/docker-root-is-a-file'); the previous daemon.json was restored and Docker started "
        "again. No further wave starts."], result.output[-3000:]
    assert {name: lab.ssh(name, "sha256sum /etc/docker/daemon.json") for name in lab.hosts} == before
    assert lab.ssh(canary, "systemctl is-active docker.service").strip() == "active"
    assert lab.docker_started(canary) > docker[canary]  # it did restart (twice) ...
    assert {name: lab.docker_started(name) for name in others} == {name: docker[name] for name in others}
    # live-restore: the server container kept running through both dockerd restarts (its
    # published port may take a moment to answer again after the second one)
    assert lab.container(canary)["State"]["StartedAt"] == started
    url = f"ws://127.0.0.1:{lab.entry(canary)['service_ports']['10095']}"
    assert wait_until_healthy(url, mode="2pass", tls=TlsPolicy(), start_timeout=30, probe_timeout=5).ok
    # The failed host was left out of the balancer; the next run with good data puts it
    # back (its only change), and the one after changes nothing.
    again = lab.deploy()
    assert again.returncode == 0 and grand_total(again.output)[2] == 0, again.output[-3000:]
    settled = lab.deploy()
    assert grand_total(settled.output)[1:3] == (0, 0), settled.output[-3000:]


def test_a_failed_docker_unit_is_healed_by_the_next_run(lab):
    """What a run cut between installing a bad daemon.json and restoring the previous one
    would leave: dockerd exits at every start, and after three quick failures systemd
    refuses to start it again ("start request repeated too quickly") until someone types
    systemctl reset-failed. A plain converge puts its daemon.json in (Docker does not run,
    so nothing is restarted), resets the unit and starts Docker; the server comes back."""
    name = lab.hosts[0]
    good = lab.ssh(name, "sha256sum /etc/docker/daemon.json")
    lab.ssh(name, "echo '{\"no-such-directive\": 1}' > /etc/docker/daemon.json && "
                  "for i in 1 2 3 4 5; do systemctl restart docker.service 2>/dev/null; sleep 0.5; done",
            check=False)
    state = lab.ssh(name, "systemctl is-active docker.service", check=False).strip()
    assert state == "failed", state
    result = lab.deploy()
    assert result.returncode == 0, result.output[-3000:]
    assert lab.ssh(name, "sha256sum /etc/docker/daemon.json") == good
    assert lab.ssh(name, "systemctl is-active docker.service").strip() == "active"
    assert lab.probe(name)[0] == 0
    again = lab.deploy()
    assert grand_total(again.output)[1:3] == (0, 0), again.output[-3000:]


def tree_state(path):
    """Every file and directory below ``path`` with its content digest (None: absent)."""
    import hashlib
    from pathlib import Path

    root = Path(path)
    if not root.exists():
        return None
    return {str(item.relative_to(root)): hashlib.sha256(item.read_bytes()).hexdigest()
            if item.is_file() else "dir" for item in sorted(root.rglob("*"))}


def test_dry_changes_nothing_on_the_control_node_and_says_what_a_run_would_do(lab, tmp_path):
    """--dry with an empty model cache and no fleet CA: nothing is fetched, created or
    issued; the output says which files and bytes would be fetched and which certificates
    issued. With the lab's warm caches, they stay byte-identical."""
    from funasr_fleet.lab.state import lab_dir

    cache, tls_dir = tmp_path / "models", tmp_path / "tls"
    result = lab.deploy("--dry", "--data", f"funasr_models_cache_dir={cache}",
                        "--data", "funasr_tls=generated", "--data", f"funasr_tls_dir={tls_dir}")
    assert result.returncode == 0, result.output[-3000:]
    assert "dry run: would fetch iic/speech_ngram_lm_zh-cn-ai-wesp-fst@v1.0.2 into " in result.output
    assert f"dry run: would create the fleet CA in {tls_dir}/ca and issue a new TLS certificate" \
        in result.output
    assert tree_state(cache) is None and tree_state(tls_dir) is None
    warm = {name: tree_state(lab_dir() / name) for name in ("models", "images")}
    again = lab.deploy("--dry")
    assert again.returncode == 0 and "dry run: would" not in again.output, again.output[-3000:]
    assert {name: tree_state(lab_dir() / name) for name in ("models", "images")} == warm
