"""
Models seeded once per fleet (issue: pre-seed models so servers start offline), on the lab
after test_converge.py: hub stand-in log counts, offline start, hub faults.
"""

import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from conftest import REPO, grand_total
from funasr_fleet.catalog import PROFILES
from funasr_fleet.lab.standin_hub import read_log

pytestmark = pytest.mark.lab

VAD_ID = "iic/speech_fsmn_vad_zh-cn-16k-common-onnx"
VAD_DIR = "/opt/funasr/models/iic/speech_fsmn_vad_zh-cn-16k-common-onnx@{}"  # one per revision
MANIFEST = f"{VAD_DIR.format('v2.0.4')}/.funasr-fleet-manifest.json"


def downloads(lab):
    return [r for r in read_log(lab.state["hub"]["log"]) if r["path"].endswith("/repo")]


def set_faults(lab, faults):
    Path(lab.state["hub"]["faults"]).write_text(json.dumps(faults))


def every_host(lab, data):
    lab.set_host_data({name: data for name in lab.hosts})


def vad_revision(revision):
    """Host data moving the VAD model (shared by every profile) to ``revision``."""
    return {"funasr_models": {profile: {"vad": {"id": VAD_ID, "revision": revision}}
                              for profile in PROFILES}}


def test_each_model_file_was_downloaded_once_for_the_whole_fleet(lab):
    counts = Counter((r["path"], r["query"]["FilePath"]) for r in downloads(lab))
    assert counts and set(counts.values()) == {1}
    before = len(read_log(lab.state["hub"]["log"]))
    # The fleet's model sets (2pass on the CPU hosts, offline-gpu on the GPU host; shared
    # models once), as `models fetch` lists them from the warm cache.
    fetched = subprocess.run([sys.executable, "-m", "funasr_fleet", "models", "fetch",
                              "inventory/lab.py"], cwd=REPO, capture_output=True, text=True)
    assert fetched.returncode == 0, fetched.stderr
    *revisions, final = fetched.stdout.splitlines()
    files = {line.split("@")[0]: int(re.search(r": (\d+) files", line).group(1)) for line in revisions}
    # The final line: nothing from the hub, everything from the cache.
    assert final.startswith("models: fetched 0 files (0 B) from http://127.0.0.1:"), final
    assert not final.endswith(" 0 B from cache"), final
    assert len(files) == 8  # 6 of the 2pass set (the LM included) + the GPU set's own ASR and PUNC
    assert {path.split("/api/v1/models/")[1].rsplit("/repo", 1)[0] for path, _ in counts} == set(files)
    assert len(counts) == sum(files.values())
    assert len(read_log(lab.state["hub"]["log"])) == before  # a warm cache asks the hub nothing


def test_second_deploy_downloads_nothing_and_sends_no_model_bytes(lab):
    before = len(read_log(lab.state["hub"]["log"]))
    result = lab.deploy()
    assert result.returncode == 0, result.output[-3000:]
    assert grand_total(result.output)[1] == 0
    assert len(read_log(lab.state["hub"]["log"])) == before


def test_servers_start_offline_from_the_seeded_files_and_a_converge_repairs_them(lab):
    name = lab.hosts[0]
    assert "Download model" not in lab.ssh(name, "docker logs funasr-funasr-1 2>&1")
    lab.ssh(name, f"mv {VAD_DIR.format('v2.0.4')} /root/vad-away"
                  " && docker restart funasr-funasr-1 >/dev/null; sleep 2")
    log = lab.ssh(name, "docker logs --tail 5 funasr-funasr-1 2>&1")
    assert "model_quant.onnx do not exists." in log  # the stand-in, like FunASR, refuses to start
    result = lab.deploy()
    assert result.returncode == 0, result.output[-3000:]
    assert lab.probe(name)[0] == 0
    lab.ssh(name, "rm -rf /root/vad-away")


def test_corrupted_file_on_the_hub_is_refused_before_any_host_changes(lab):
    manifests = {name: lab.ssh(name, f"sha256sum {MANIFEST}") for name in lab.hosts}
    set_faults(lab, {"corrupt": [f"{VAD_ID}@v2.0.5/model_quant.onnx"]})
    every_host(lab, vad_revision("v2.0.5"))
    try:
        result = lab.deploy()
    finally:
        lab.set_host_data({})
        set_faults(lab, {})
    assert result.returncode != 0
    assert f"sha256 mismatch for {VAD_ID}@v2.0.5/model_quant.onnx" in result.output
    assert "Beginning operation run" not in result.output
    assert {name: lab.ssh(name, f"sha256sum {MANIFEST}") for name in lab.hosts} == manifests
    assert all(lab.probe(name)[0] == 0 for name in lab.hosts)


def test_interrupted_download_resumes_with_a_range_request_then_rolls_out(lab):
    """The hub cuts the download once: the same run tries again, resumes from the bytes it
    has (HTTP Range) and rolls the new revision out."""
    key = f"{VAD_ID}@v2.0.6/model_quant.onnx"
    set_faults(lab, {"cut_after": {key: 40000}})
    every_host(lab, vad_revision("v2.0.6"))
    try:
        first = lab.deploy()
        assert first.returncode == 0, first.output[-3000:]
    finally:
        lab.set_host_data({})
        set_faults(lab, {})
    tries = [r for r in downloads(lab) if r["query"].get("Revision") == "v2.0.6"
             and r["query"]["FilePath"] == "model_quant.onnx"]
    assert tries[0].get("cut") and tries[1]["status"] == 206
    assert tries[1]["range"].startswith("bytes=") and tries[1]["range"] != "bytes=0-"
    for name in lab.hosts:
        assert '"revision": "v2.0.6"' in lab.ssh(name, f"cat {VAD_DIR.format('v2.0.6')}/.funasr-fleet-manifest.json")
    assert lab.deploy().returncode == 0  # back to the default revision


def test_the_previous_releases_model_revision_stays_and_a_rollback_brings_it_back(lab):
    """After the deploy back to v2.0.4, v2.0.6 (the previous release's) is still on every
    host; rolling back puts the servers on it again, and re-deploying returns."""
    held = {name: lab.ssh(name, "ls -d /opt/funasr/models/iic/*fsmn_vad*").split() for name in lab.hosts}
    assert all(dirs == [VAD_DIR.format("v2.0.4"), VAD_DIR.format("v2.0.6")] for dirs in held.values()), held
    name = lab.hosts[0]
    rollback = subprocess.run([str(Path(sys.executable).with_name("pyinfra")), "-y", "inventory/lab.py",
                               "rollback.py", "--limit", name, "--limit", "lb"], cwd=REPO, capture_output=True, text=True,
                              timeout=600)
    assert rollback.returncode == 0, (rollback.stdout + rollback.stderr)[-3000:]
    assert "--vad-dir /workspace/models/iic/speech_fsmn_vad_zh-cn-16k-common-onnx@v2.0.6" in lab.ssh(name, "docker inspect -f '{{join .Args \" \"}}' funasr-funasr-1")
    assert lab.probe(name)[0] == 0
    assert lab.deploy().returncode == 0
    assert "--vad-dir /workspace/models/iic/speech_fsmn_vad_zh-cn-16k-common-onnx@v2.0.4" in lab.ssh(name, "docker inspect -f '{{join .Args \" \"}}' funasr-funasr-1")


def test_a_full_disk_on_a_host_fails_that_host_and_keeps_its_models_and_server(lab):
    """The new revision does not fit: the live models, compose.yaml and server stay as they were."""
    name = lab.hosts[-1]
    models = "/opt/funasr/models"
    kept = f"sha256sum {MANIFEST} /opt/funasr/compose.yaml"
    before = lab.ssh(name, kept)
    used_kib = int(lab.ssh(name, f"rm -rf {models}/.funasr-fleet-staging; du -sk {models} | cut -f1"))
    # A filesystem just big enough for the models it holds, over the live models dir (the
    # new revision's model file alone is 64 KiB: the lab hub's size).
    lab.ssh(name, f"cp -a {models} /root/models-copy && mount -t tmpfs -o size={used_kib + 16}k "
                  f"funasr-lab-full {models} && cp -a /root/models-copy/. {models}/")
    lab.set_host_data({name: vad_revision("v2.0.7")})
    try:
        result = lab.deploy()
        after = lab.ssh(name, kept)
        healthy = lab.probe(name)[0] == 0
    finally:
        lab.set_host_data({})
        lab.ssh(name, f"umount {models}; rm -rf /root/models-copy")
    assert result.returncode != 0
    assert f"not enough space for the models on {name}:/opt/funasr/models" in result.output, \
        "\n".join(line for line in result.output.splitlines() if name in line)
    assert after == before and healthy
    for other in lab.hosts[:-1]:  # the other hosts went on and passed their health gate
        assert f"[{other}] FunASR healthy" in result.output
    final = lab.deploy()
    assert final.returncode == 0 and grand_total(final.output)[1] == 0, final.output[-3000:]


LIVE_MODELS = ("find /opt/funasr/models -name .funasr-fleet-staging -prune -o -type f -print0 "
               "| sort -z | xargs -0 sha256sum")
# rsync on the host that, once it has written the files, cuts every SSH session (its own
# and pyinfra's): the connection drops after the new revision reached the staging area,
# before it is renamed into place.
CUTTING_RSYNC = ("printf '#!/bin/sh\\n/usr/bin/rsync \"$@\"; code=$?\\n"
                 "pkill -KILL -f \"sshd-session|sshd: root@\"\\nexit $code\\n' > /usr/local/bin/rsync "
                 "&& chmod 755 /usr/local/bin/rsync")


def test_ssh_cut_while_models_are_staged_leaves_the_live_models_and_a_rerun_completes(lab):
    name = lab.hosts[0]
    live = lab.ssh(name, LIVE_MODELS)
    started = lab.container(name)["State"]["StartedAt"]
    lab.ssh(name, CUTTING_RSYNC)
    every_host(lab, vad_revision("v2.0.7"))
    try:
        result = lab.deploy()
    finally:
        lab.ssh(name, "rm -f /usr/local/bin/rsync")
    try:
        assert result.returncode != 0, result.output[-3000:]
        # staging failed on that host: its live model directories are as they were, its
        # server untouched, and no wave changed any host (staging is before every wave)
        assert lab.ssh(name, LIVE_MODELS) == live
        assert lab.container(name)["State"]["StartedAt"] == started and lab.probe(name)[0] == 0
        for other in lab.hosts:  # (the servers' command names the container's path)
            assert f"{VAD_ID}@v2.0.7" not in lab.ssh(
                other, "docker inspect -f '{{join .Args \" \"}}' funasr-funasr-1"), other
        rerun = lab.deploy()  # the same command completes
        assert rerun.returncode == 0, rerun.output[-3000:]
        assert f"--vad-dir /workspace/models/{VAD_ID}@v2.0.7" in lab.ssh(
            name, "docker inspect -f '{{join .Args \" \"}}' funasr-funasr-1")
    finally:
        lab.set_host_data({})
        assert lab.deploy().returncode == 0
