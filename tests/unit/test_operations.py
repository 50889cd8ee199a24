"""Operations: commands only for what differs; one fact per operation."""

import json
import re
import shlex

import pytest
from pathlib import Path

from funasr_fleet import gate as gate_module, transfer
from funasr_fleet.gate import Gate
from funasr_fleet.operations import docker as docker_ops, models as models_ops, nftables as nftables_ops
from funasr_fleet.operations.apt import apt_keyring, packages_installed
from funasr_fleet.operations.docker import (_daemon_json_applied, compose_up, daemon_json_changes,
                                            docker_daemon_json, image_loaded, image_pulled)
from funasr_fleet.operations.files import managed_paths
from funasr_fleet.operations.models import models_seeded
from funasr_fleet.operations.nftables import _ruleset_loaded, nft_table_loaded
from funasr_fleet.operations.nvidia import gpu_export_copied
from funasr_fleet.operations.release import release_healthy
from funasr_fleet.operations.systemd import unit_running
from funasr_fleet.digest import sha256_bytes, sha256_text
from funasr_fleet.images import ImageTarball
from funasr_fleet.models import CachedModel, MANIFEST
from funasr_fleet.modelset import ModelSpec
from helpers import run_operation

ROOT = {"owner": "root", "group": "root"}


def test_packages_installed_is_silent_when_present():
    commands, host = run_operation(packages_installed,
                                   {"DebPackageVersions": {"docker.io": "26", "docker-compose": "2"}},
                                   packages=["docker.io", "docker-compose"])
    assert commands == [] and len(host.fact_calls) == 1


def test_packages_installed_updates_then_installs_missing_and_pinned():
    commands, _ = run_operation(packages_installed, {"DebPackageVersions": {"docker.io": "25"}},
                                packages=["docker.io", "docker-compose"], versions={"docker.io": "26"})
    assert commands[0].endswith("apt-get update -q")
    assert commands[1].endswith("--no-install-recommends docker.io=26 docker-compose")


def test_packages_installed_without_upgrade_installs_only_missing_packages_at_their_pin():
    facts = {"DebPackageVersions": {"docker.io": "25"}}
    args = {"packages": ["docker.io", "docker-compose"], "versions": {"docker.io": "26"}, "upgrade": False}
    commands, _ = run_operation(packages_installed, facts, **args)
    assert commands[1].endswith("--no-install-recommends docker-compose")  # docker.io 25 stays
    commands, _ = run_operation(packages_installed, {"DebPackageVersions": {}}, **args)
    assert commands[1].endswith("--no-install-recommends docker.io=26 docker-compose")


def test_managed_paths_uploads_only_changed_files_and_fixes_modes():
    same = "same\n"
    states = {
        "/d": {"type": "directory", "mode": "755", **ROOT, "sha256": None},
        "/d/same": {"type": "file", "mode": "644", **ROOT, "sha256": sha256_text(same)},
        "/d/mode": {"type": "file", "mode": "644", **ROOT, "sha256": sha256_text("x")},
        "/d/new": None,
    }
    commands, host = run_operation(
        managed_paths, {"PathStates": {k: v for k, v in states.items() if v}},
        directories=[("/d", "755"), ("/d/ssl", "700")],
        files=[("/d/same", same, "644"), ("/d/mode", "x", "600"), ("/d/new", "n", "644")])
    assert len(host.fact_calls) == 1
    assert commands[0] == "mkdir -p -m 700 /d/ssl"
    assert "chmod 700 /d/ssl" in commands[1]
    assert commands[2] == "chmod 600 /d/mode && chown root:root /d/mode"
    assert commands[3].startswith("FileUploadCommand(") and "/d/new.funasr-fleet-new" in commands[3]
    assert commands[4].endswith("mv -f /d/new.funasr-fleet-new /d/new")
    assert len(commands) == 5


def test_unit_running_starts_and_enables_only_when_needed():
    assert run_operation(unit_running, {"SystemdUnitState": {"active": True, "enabled": True}},
                         unit="docker.service")[0] == []
    commands, _ = run_operation(unit_running,
                                {"SystemdUnitState": {"active": False, "enabled": False}},
                                unit="docker.service")
    assert commands == ["systemctl enable docker.service", "systemctl start docker.service"]


def test_image_loaded_skips_when_the_image_id_matches():
    tarball = ImageTarball(image="lab/standin:t", image_id="sha256:abc", path=Path("/tmp/abc.tar.gz"))
    assert run_operation(image_loaded, {"DockerImageId": "sha256:abc"}, tarball=tarball)[0] == []
    commands, _ = run_operation(image_loaded, {"DockerImageId": "sha256:old"}, tarball=tarball)
    assert len(commands) == 2 and "_stream_docker_load" in commands[0]
    assert commands[1] == "docker tag sha256:abc lab/standin:t"


def test_image_loaded_only_tags_an_image_id_the_host_already_has():
    from pyinfra.context import ctx_host
    from helpers import FakeHost

    tarball = ImageTarball(image="lab/standin:v2", image_id="sha256:abc", path=Path("/tmp/abc.tar.gz"))
    fake = FakeHost({})
    fake.get_fact = lambda cls, image: None if image == "lab/standin:v2" else "sha256:abc"
    with ctx_host.use(fake):
        commands = list(image_loaded._inner(tarball=tarball))
    assert [str(command) for command in commands] == ["docker tag sha256:abc lab/standin:v2"]


def test_image_pulled_logs_in_with_the_password_on_stdin_only():
    from pyinfra.api import HiddenValue

    commands, _ = run_operation(image_pulled, {"DockerImageId": None},
                                image="registry.example/funasr:t", username="bot",
                                password=HiddenValue("s3cret"))
    assert commands == ["docker login --username bot --password-stdin registry.example",
                        "docker pull registry.example/funasr:t"]
    assert all("s3cret" not in command for command in commands)


def cached_vad(tmp_path, files):
    return CachedModel(spec=ModelSpec(id="iic/vad", revision="v2"), cache=tmp_path, directory=tmp_path,
                       manifest_sha256="m" * 64, files=tuple(files))


NEW_FILES = ({"path": "model_quant.onnx", "size": 1, "sha256": "new"},
             {"path": "sub/config.yaml", "size": 1, "sha256": "same"})
HELD_V1 = "iic/vad@v1"  # the fact's keys: model directories below the models dir
STAGING = "/opt/funasr/models/.funasr-fleet-staging"


def test_models_seeded_skips_models_whose_manifest_matches(tmp_path):
    model = cached_vad(tmp_path, NEW_FILES)
    facts = {"ModelManifests": {"rsync": (3, 4, 1), "manifests": {"iic/vad@v2": model.manifest}}}
    commands, host = run_operation(models_seeded, facts, models_dir="/opt/funasr/models",
                                   cached_models=[model])
    assert commands == [] and len(host.fact_calls) == 1


def test_a_new_revision_is_staged_from_the_held_one_sending_only_changed_files(tmp_path):
    model = cached_vad(tmp_path, NEW_FILES)
    held = {"id": "iic/vad", "revision": "v1",
            "files": [{"path": "model_quant.onnx", "size": 1, "sha256": "old"},
                      {"path": "sub/config.yaml", "size": 1, "sha256": "same"},
                      {"path": "vad.mvn", "size": 1, "sha256": "gone"}]}
    other = {"id": "iic/asr", "revision": "v2", "files": []}
    facts = {"ModelManifests": {"rsync": None, "manifests": {HELD_V1: held, "iic/asr@v2": other}}}
    commands, _ = run_operation(models_seeded, facts, models_dir="/opt/funasr/models",
                                cached_models=[model])
    # v2 gets its own directory, hard-linked from v1 (the live v1 is never written)
    assert f"cp -al /opt/funasr/models/iic/vad@v1 {STAGING}/iic/vad@v2" in commands[0]
    assert f"rm -f {STAGING}/iic/vad@v2/vad.mvn" in commands
    uploads = [c for c in commands if c.startswith("FileUploadCommand(")]
    assert len(uploads) == 2 and "model_quant.onnx" in uploads[0] and MANIFEST in uploads[1]
    assert not any("config.yaml" in c for c in uploads)
    assert commands[-1].endswith(f"mv {STAGING}/iic/vad@v2 /opt/funasr/models/iic/vad@v2 && "
                                 "rm -rf /opt/funasr/models/iic/vad@v2.funasr-fleet-old && "
                                 f"rm -rf {STAGING}")
    assert not any("vad@v1" in c for c in commands[1:])  # v1 stays as it is, for a rollback


def test_models_seeded_sends_every_changed_model_in_one_rsync(tmp_path, monkeypatch):
    vad, asr = (CachedModel(spec=ModelSpec(id=f"iic/{name}", revision="v2"), cache=tmp_path,
                            directory=tmp_path / name, manifest_sha256="a" * 64, files=NEW_FILES)
                for name in ("vad", "asr"))
    monkeypatch.setattr(models_ops, "local_rsync_version", lambda: (3, 2, 7))
    monkeypatch.setattr(models_ops, "can_rsync", lambda host: True)
    monkeypatch.setattr(transfer, "cpu_has_aes", lambda: True)
    facts = {"ModelManifests": {"rsync": (3, 4, 1), "cpu_aes": True, "manifests": {}}}
    commands, host = run_operation(models_seeded, facts, models_dir="/opt/funasr/models",
                                   cached_models=[vad, asr])
    assert len(commands) == 3 and commands[1].startswith("RsyncCommand(")
    assert host.yielded[1].ciphers == transfer.AES_FIRST  # both ends have AES instructions
    source, target, flags = re.match(r"RsyncCommand\((\S+), (\S+), (.*)\)$", commands[1]).groups()
    assert target == f"{STAGING}/" and "--copy-links" in flags and "--ignore-times" in flags
    assert "--checksum-choice=none" in flags and "--inplace" not in flags  # never write a linked live file
    assert "--delete" not in flags  # the staging copy's unchanged links stay
    # an rsync older than 3.2.3 on either end does not know it
    facts["ModelManifests"].update(rsync=(3, 1, 3), cpu_aes=False)
    older, host = run_operation(models_seeded, facts, models_dir="/opt/funasr/models",
                                cached_models=[vad, asr])
    assert "--checksum-choice" not in older[1]
    assert host.yielded[1].ciphers == ()  # a host without AES: ssh's default (chacha20)
    tree = Path(source)  # one link per file to send, where the staging copy wants it
    for name in ("vad", "asr"):
        sent = sorted(str(path.relative_to(tree)) for path in tree.rglob("*") if path.is_symlink())
        assert f"iic/{name}@v2/model_quant.onnx" in sent and f"iic/{name}@v2/{MANIFEST}" in sent
        assert (tree / f"iic/{name}@v2/sub/config.yaml").resolve() == (tmp_path / name / "sub/config.yaml").resolve()
    assert "mv /opt/funasr/models/.funasr-fleet-staging/iic/asr@v2 /opt/funasr/models/iic/asr@v2" in commands[2]


def running(digest, status="running", service="funasr"):
    return {"name": f"funasr-{service}-1", "status": status, "image_id": "sha256:x",
            "started_at": "", "restart_count": 0,
            "labels": {"io.funasr-fleet.config-sha256": digest, "com.docker.compose.service": service}}


COMPOSE = {"project_dir": "/opt/funasr", "project": "funasr", "config_sha256": "d1",
           "image": "lab/standin:t"}


def test_compose_up_is_silent_for_the_running_configuration():
    facts = {"ComposeProject": {"containers": [running("d1")], "image_id": "sha256:x"}}
    assert run_operation(compose_up, facts, **COMPOSE)[0] == []


def test_compose_up_runs_for_changed_stopped_reimaged_or_missing_containers():
    for containers, image_id in (([running("old")], "sha256:x"),
                                 ([running("d1", status="exited")], "sha256:x"),
                                 ([running("d1")], "sha256:reloaded-tag"), ([], "sha256:x"),
                                 ([running("d1"), running("d1", service="funasr-gpu1")], "sha256:x")):
        commands, _ = run_operation(compose_up,
                                    {"ComposeProject": {"containers": containers, "image_id": image_id}},
                                    **COMPOSE)
        assert commands == ["docker compose --project-directory /opt/funasr --project-name funasr "
                            "-f /opt/funasr/compose.yaml up -d --remove-orphans"]


def test_apt_keyring_refuses_a_key_with_another_fingerprint():
    fingerprint = "9DC858229FC7DD38854AE2D88D81803C0EBFCD88"
    assert run_operation(apt_keyring, {"KeyringFingerprints": [fingerprint]},
                         url="https://x/gpg", fingerprint=fingerprint, path="/etc/apt/keyrings/d.asc")[0] == []
    commands, _ = run_operation(apt_keyring, {"KeyringFingerprints": []},
                                url="https://x/gpg", fingerprint=fingerprint,
                                path="/etc/apt/keyrings/d.asc")
    assert "curl -fsSL --retry 3 -o /etc/apt/keyrings/d.asc.funasr-fleet-new https://x/gpg" in commands
    assert f"grep -qx {fingerprint}" in commands[-1] and "refusing it" in commands[-1]


def test_compose_up_wants_one_running_container_per_instance():
    per_gpu = dict(COMPOSE, services=("funasr-gpu0", "funasr-gpu1"))
    both = [running("d1", service="funasr-gpu0"), running("d1", service="funasr-gpu1")]
    facts = {"ComposeProject": {"containers": both, "image_id": "sha256:x"}}
    assert run_operation(compose_up, facts, **per_gpu)[0] == []
    facts["ComposeProject"]["containers"] = both[:1]
    assert len(run_operation(compose_up, facts, **per_gpu)[0]) == 1


def test_managed_paths_keeps_the_previous_files_before_changing_any():
    states = {"/s/compose.yaml": {"type": "file", "mode": "644", **ROOT, "sha256": sha256_text("old")},
              "/s/hotwords.txt": {"type": "file", "mode": "644", **ROOT, "sha256": sha256_text("w")}}
    files = [("/s/hotwords.txt", "w", "644"), ("/s/compose.yaml", "new", "644")]
    commands, _ = run_operation(managed_paths, {"PathStates": states}, files=files,
                                backup_dir="/s/previous")
    assert commands[0] == ("rm -rf /s/previous.new && mkdir -m 700 /s/previous.new && cp -p --parents "
                           "/s/hotwords.txt /s/compose.yaml /s/previous.new && rm -rf /s/previous && "
                           "mv /s/previous.new /s/previous")
    assert len(commands) == 3  # the backup, then compose.yaml's upload and rename
    unchanged = [("/s/hotwords.txt", "w", "644"), ("/s/compose.yaml", "old", "644")]
    assert run_operation(managed_paths, {"PathStates": states}, files=unchanged,
                         backup_dir="/s/previous")[0] == []


GATE = Gate(urls=("ws://h:10095",), mode="2pass", tls=None, start_timeout=1, probe_timeout=1)
RELEASE = {"version": "0.1.12", "image": "r/f:t12", "config_sha256": "new"}
V11 = {"version": "0.1.11", "image": "r/f:t11", "config_sha256": "old"}


def gate_run(monkeypatch, healthy, record, running_config):
    from funasr_fleet.probe import ProbeResult

    result = ProbeResult(url="ws://h:10095", ok=healthy, stage="done" if healthy else "result", latency_s=0.1,
                         error="" if healthy else "no final result within 1s")
    monkeypatch.setattr(gate_module, "wait_until_healthy", lambda *args, **kwargs: result)
    facts = {"ReleaseRecord": record,
             "ComposeProject": {"containers": [dict(running(running_config), started_at="2026-11-27T01:00:00Z")],
                                "image_id": "sha256:x"}}
    return run_operation(release_healthy, facts, gate=GATE, release=RELEASE,
                         directory="/opt/funasr", project="funasr")


def test_a_healthy_new_release_is_recorded_with_the_former_as_previous(monkeypatch):
    commands, _ = gate_run(monkeypatch, True, {"current": V11}, "new")
    record = json.loads(shlex.split(commands[0])[2])
    assert record["previous"] == V11 and record["current"]["version"] == "0.1.12"
    assert record["current"]["image_id"] == "sha256:x" and record["current"]["healthy_at"]
    assert commands[0].endswith("> /opt/funasr/release.json.tmp && mv /opt/funasr/release.json.tmp "
                                "/opt/funasr/release.json")
    assert len(commands) == 1  # a former release without a model list: no model is pruned


def test_model_revisions_no_release_uses_are_pruned_after_a_healthy_release(monkeypatch, tmp_path):
    import subprocess

    old = {**V11, "models": ["iic/vad@v1"]}
    monkeypatch.setitem(RELEASE, "models", ["iic/vad@v2"])
    commands, _ = gate_run(monkeypatch, True, {"current": old, "previous": {"models": ["iic/vad@v0"]}}, "new")
    assert len(commands) == 2
    models = tmp_path / "opt/funasr/models"
    for name in ("vad@v0", "vad@v1", "vad@v2", "asr@v9"):
        (models / "iic" / name).mkdir(parents=True)
        (models / "iic" / name / MANIFEST).write_text("{}")
    (models / ".funasr-fleet-staging").mkdir()
    subprocess.run(commands[1].replace("/opt/funasr/models", str(models)), shell=True, check=True)
    assert sorted(path.name for path in (models / "iic").iterdir()) == ["vad@v1", "vad@v2"]
    assert (models / ".funasr-fleet-staging").is_dir()  # only model directories are touched


def test_gpu_export_copies_no_release_uses_are_pruned_after_a_healthy_release(monkeypatch, tmp_path):
    import subprocess

    from funasr_fleet.facts.nvidia import EXPORT_MARKER

    monkeypatch.setitem(RELEASE, "exports", ["iic/asr@v2+blade-new"])
    commands, _ = gate_run(monkeypatch, True, {"current": {**V11, "exports": ["iic/asr@v2+blade-old"]}},
                           "new")
    exports = tmp_path / "opt/funasr/exports"
    for name in ("asr@v2+blade-older", "asr@v2+blade-old", "asr@v2+blade-new"):
        (exports / "iic" / name).mkdir(parents=True)
        (exports / "iic" / name / EXPORT_MARKER).write_text("sha256:x")
    (exports / "iic" / "asr@v2+blade-new.tmp").mkdir()  # an unfinished copy has no marker yet
    prune = next(command for command in commands if "/opt/funasr/exports" in command)
    subprocess.run(prune.replace("/opt/funasr/exports", str(exports)), shell=True, check=True)
    assert sorted(path.name for path in (exports / "iic").iterdir()) == [
        "asr@v2+blade-new", "asr@v2+blade-new.tmp", "asr@v2+blade-old"]


def test_a_recorded_healthy_release_costs_one_fact_and_no_command(monkeypatch):
    commands, host = gate_run(monkeypatch, True, {"current": dict(RELEASE)}, "new")
    assert commands == [] and [name for name, _ in host.fact_calls] == ["ReleaseRecord"]


def test_an_unhealthy_new_release_is_rolled_back_to_the_recorded_one(monkeypatch):
    commands, _ = gate_run(monkeypatch, False, {"current": V11}, "new")
    assert len(commands) == 1 and "_rolled_back" in commands[0] and "0.1.11" in commands[0]


def test_no_rollback_when_this_host_never_got_the_new_release(monkeypatch):
    # an earlier failure stopped the rollout: the host still runs 0.1.11 and is unwell
    commands, _ = gate_run(monkeypatch, False, {"current": V11}, "old")
    assert len(commands) == 1 and "_report_unhealthy" in commands[0]


def test_models_seeded_refuses_before_sending_when_the_host_lacks_space(tmp_path):
    big = ({"path": "model_quant.onnx", "size": 5_000_000, "sha256": "new"},
           {"path": "config.yaml", "size": 10, "sha256": "same"})
    held = {"id": "iic/vad", "revision": "v1", "files": [{"path": "config.yaml", "size": 10, "sha256": "same"}]}
    facts = {"ModelManifests": {"rsync": (3, 4, 1), "free_kib": 4000, "manifests": {HELD_V1: held}}}
    commands, _ = run_operation(models_seeded, facts, models_dir="/opt/funasr/models",
                                cached_models=[cached_vad(tmp_path, big)])
    assert len(commands) == 1 and "_not_enough_space" in commands[0] and "5000000" in commands[0]
    facts["ModelManifests"]["free_kib"] = 6000  # 5 MB fit: the seeding goes ahead
    assert len(run_operation(models_seeded, facts, models_dir="/opt/funasr/models",
                             cached_models=[cached_vad(tmp_path, big)])[0]) > 1


def test_a_host_left_alone_by_a_stopped_rollout_is_not_failed(monkeypatch):
    from funasr_fleet.probe import ProbeResult
    from helpers import FakeHost
    from pyinfra.context import ctx_host

    monkeypatch.setattr(gate_module, "wait_until_healthy", lambda *args, **kwargs: ProbeResult(
        url="ws://h:10095", ok=False, stage="tcp", error="connection refused"))
    fake = FakeHost({"ReleaseRecord": {}, "ComposeProject": {"containers": [], "image_id": None}})
    fake.state.failed_hosts = {type("Host", (), {"name": "lab-4"})()}
    with ctx_host.use(fake):
        commands = list(release_healthy._inner(gate=GATE, release=RELEASE,
                                                          directory="/opt/funasr", project="funasr"))
    assert commands == []
    assert fake.logs[-1] == ("not changed: the rollout stopped after lab-4 failed "
                             "(this host's server: tcp: connection refused)")


def test_nft_table_loaded_is_silent_for_the_live_digest_and_file_and_checks_the_probe_otherwise():
    text = "table inet funasr_fleet {}\n"
    args = {"path": "/etc/funasr-fleet/firewall.nft", "table": "inet funasr_fleet", "text": text,
            "config_sha256": "d" * 64, "probe_urls": ["ws://asr-1:10095"]}
    converged = {"live": "d" * 64, "file": sha256_text(text)}
    commands, host = run_operation(nft_table_loaded, {"NftTableDigest": converged}, **args)
    assert commands == [] and host.fact_calls == [
        ("NftTableDigest", {"table": "inet funasr_fleet", "path": "/etc/funasr-fleet/firewall.nft"})]
    # loaded, but the boot file was edited: the file only, no reload
    commands, _ = run_operation(nft_table_loaded, {"NftTableDigest": {**converged, "file": None}}, **args)
    assert "firewall.nft.funasr-fleet-new" in commands[0] and commands[1].startswith("chmod 644 ")
    for live in (None, "0" * 64):  # no table yet, or another ruleset (edited, older)
        commands, _ = run_operation(nft_table_loaded,
                                    {"NftTableDigest": {"live": live, "file": sha256_text(text)}}, **args)
        assert "_ruleset_loaded" in commands[-1]


def test_unit_running_reloads_systemd_when_the_unit_file_changed():
    commands, _ = run_operation(unit_running, {"SystemdUnitState": {
        "active": True, "enabled": True, "need_reload": True}}, unit="funasr-fleet-firewall.service")
    assert commands == ["systemctl daemon-reload"]


def test_managed_paths_takes_hidden_contents_and_never_shows_them():
    from pyinfra.api import HiddenValue

    key = b"-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleQ==\n-----END PRIVATE KEY-----\n"
    files = [("/opt/funasr/ssl/server.key", HiddenValue(key), "600")]
    same = {"/opt/funasr/ssl/server.key": {"type": "file", "mode": "600", **ROOT, "sha256": sha256_bytes(key)}}
    assert run_operation(managed_paths, {"PathStates": same}, files=files)[0] == []
    commands, _ = run_operation(managed_paths, {"PathStates": {}}, files=files)
    assert commands[0].startswith("FileUploadCommand(") and commands[1].startswith("chmod 600 ")
    assert "c2VjcmV0LWtleQ" not in "".join(commands) and "c2VjcmV0LWtleQ" not in repr(files)


def gpu_export():
    from funasr_fleet.render import GpuExport

    return GpuExport(source="/opt/funasr/models/iic/asr-pytorch@v2.0.5",
                     directory="/opt/funasr/exports/iic/asr-pytorch@v2.0.5+blade-0123abcd4567",
                     key="iic/asr-pytorch@v2.0.5+blade-0123abcd4567", weights="model_blade.torchscript")


def test_gpu_export_copy_is_kept_while_it_was_made_for_the_image_the_reference_has():
    commands, host = run_operation(
        gpu_export_copied,
        {"GpuExportState": {"made_for": "sha256:abc", "image_id": "sha256:abc"}},
        export=gpu_export(), image="lab/standin:gpu")
    assert commands == [] and "is up to date" in host.logs[0]
    assert [name for name, _ in host.fact_calls] == ["GpuExportState"]  # one remote command


@pytest.mark.parametrize("state", [
    {"made_for": None, "image_id": "sha256:abc"},          # no copy yet
    {"made_for": "sha256:old", "image_id": "sha256:abc"},  # the tag now names another image
    {"made_for": None, "image_id": None},                  # the image arrives in this run
])
def test_gpu_export_copy_is_made_under_a_temporary_name_and_renamed(state):
    commands, _ = run_operation(gpu_export_copied, {"GpuExportState": state},
                                export=gpu_export(), image="lab/standin:gpu")
    assert len(commands) == 1
    command = commands[0]
    target = "/opt/funasr/exports/iic/asr-pytorch@v2.0.5+blade-0123abcd4567"
    assert command.index(f"cp -a --reflink=auto /opt/funasr/models/iic/asr-pytorch@v2.0.5 {target}.tmp") \
        < command.index("docker image inspect") < command.index(f"mv {target}.tmp {target}")
    assert f"> {target}.tmp/.funasr-fleet-export" in command


def test_unit_running_resets_a_failed_unit_before_starting_it():
    """systemd refuses a unit that failed too often ("start request repeated too quickly")
    until its failed state is reset: a re-run with good data heals the host by itself."""
    commands, _ = run_operation(unit_running, {"SystemdUnitState": {
        "active": False, "failed": True, "enabled": True}}, unit="docker.service")
    assert commands == ["systemctl reset-failed docker.service docker.socket 2>/dev/null || "
                        "systemctl reset-failed docker.service", "systemctl start docker.service"]


class ShellHost:
    """Runs a FunctionCommand body's shell commands for real, with fake dockerd, docker,
    systemctl and journalctl first on PATH (their behaviour set per test)."""

    def __init__(self, tmp_path, dockerd_valid=True, docker_active=True, starts_with=None):
        import os

        self.bin = tmp_path / "bin"
        self.bin.mkdir()
        self.state = tmp_path / "state"
        self.state.mkdir()
        self.logs, self.commands = [], []
        self.env = {**os.environ, "PATH": f"{self.bin}:{os.environ['PATH']}", "STATE": str(self.state)}
        validate = "exit 0" if dockerd_valid else 'echo "invalid registry mirror" >&2; exit 1'
        self._script("dockerd", f'case "$1" in --help) echo "  --validate";; --validate) {validate};; esac')
        # docker starts when daemon.json holds ``starts_with`` (or always when None)
        config = str(tmp_path / "etc" / "daemon.json")
        check = f'grep -q {shlex.quote(starts_with)} {config}' if starts_with else "true"
        self._script("systemctl", f'''
            echo "systemctl $*" >> "$STATE/calls"
            case "$1" in
              is-active) exit {0 if docker_active else 3};;
              restart|start) if {check}; then rm -f "$STATE/failed"; touch "$STATE/up"; else rm -f "$STATE/up"; touch "$STATE/failed"; fi;;
              is-failed) [ -e "$STATE/failed" ];;
            esac''')
        self._script("docker", '[ -e "$STATE/up" ] && echo 26.1.5')  # docker info --format ...
        self._script("journalctl", 'echo "unable to configure the Docker daemon with file daemon.json"')

    def _script(self, name, body):
        path = self.bin / name
        path.write_text(f"#!/bin/sh\n{body}\n")
        path.chmod(0o755)

    def run_shell_command(self, command):
        import subprocess
        from types import SimpleNamespace

        text = command if isinstance(command, str) else command.get_raw_value()
        self.commands.append(text)
        run = subprocess.run(["sh", "-c", text], capture_output=True, text=True, env=self.env)
        return run.returncode == 0, SimpleNamespace(stdout_lines=run.stdout.splitlines(),
                                                    stderr_lines=run.stderr.splitlines())

    def log_styled(self, message, **kwargs):
        self.logs.append(message)

    def calls(self):
        path = self.state / "calls"
        return path.read_text().splitlines() if path.exists() else []


NEW = '{"new": true}'


def daemon_files(tmp_path, old='{"old": true}', new=NEW):
    (tmp_path / "etc").mkdir()
    path = tmp_path / "etc" / "daemon.json"
    if old is not None:
        path.write_text(old)
    (tmp_path / "etc" / "daemon.json.funasr-fleet-new").write_text(new)
    return path


def test_docker_daemon_json_uploads_beside_the_live_file_only_when_it_differs():
    text = '{"live-restore": true}\n'
    same = {"/etc/docker/daemon.json": {"type": "file", "mode": "644", **ROOT, "sha256": sha256_text(text)}}
    assert run_operation(docker_daemon_json, {"PathStates": same}, text=text)[0] == []
    commands, _ = run_operation(docker_daemon_json, {"PathStates": {}}, text=text)
    assert commands[0] == "mkdir -p -m 755 /etc/docker"
    assert "/etc/docker/daemon.json.funasr-fleet-new" in commands[1]
    assert "_daemon_json_applied" in commands[2]


@pytest.mark.parametrize("docker_active, installed", [(True, False), (False, True)])
def test_before_the_waves_daemon_json_goes_in_only_where_docker_is_not_running(tmp_path, docker_active,
                                                                                installed):
    """Where Docker runs, the change is left for the host's wave; where it is not
    installed, stopped or failed (an earlier run's bad file), the file goes in now."""
    path = daemon_files(tmp_path)
    host = ShellHost(tmp_path, docker_active=docker_active)
    assert _daemon_json_applied(None, host, str(path), NEW, {}, only_if_stopped=True) is True
    assert path.read_text() == (NEW if installed else '{"old": true}')
    assert not (tmp_path / "etc" / "daemon.json.funasr-fleet-new").exists()
    assert not [call for call in host.calls() if "restart" in call]


def test_daemon_json_changes_name_each_changed_key_and_its_data():
    from funasr_fleet.render import DAEMON_KNOBS

    live = '{"live-restore": true, "data-root": "/srv/a", "log-opts": {"max-size": "10m"}}'
    new = '{"live-restore": true, "data-root": "/srv/b", "registry-mirrors": ["https://m"], "log-opts": {"max-size": "10m"}}'
    assert daemon_json_changes(live, new, DAEMON_KNOBS) == (
        "data-root (docker_data_root), registry-mirrors (docker_registry_mirrors)")
    assert daemon_json_changes("", new, {}) == "data-root, live-restore, log-opts, registry-mirrors"
    assert daemon_json_changes(new, new, {}) == "nothing"


def test_a_daemon_json_dockerd_refuses_never_replaces_the_live_one(tmp_path):
    bad = '{"registry-mirrors": ["not a url"]}'
    path = daemon_files(tmp_path, new=bad)
    host = ShellHost(tmp_path, dockerd_valid=False)
    assert _daemon_json_applied(None, host, str(path), bad, {}) is False
    assert path.read_text() == '{"old": true}'
    assert not (tmp_path / "etc" / "daemon.json.funasr-fleet-new").exists()
    assert "refused by dockerd --validate (invalid registry mirror)" in host.logs[0]
    assert not [call for call in host.calls() if "restart" in call]


def test_a_valid_daemon_json_replaces_the_live_one_and_restarts_docker(tmp_path):
    path = daemon_files(tmp_path)
    host = ShellHost(tmp_path)
    assert _daemon_json_applied(None, host, str(path), NEW, {}) is True
    assert path.read_text() == '{"new": true}'
    assert (tmp_path / "etc" / "daemon.json.funasr-fleet-previous").read_text() == '{"old": true}'
    assert host.calls().count("systemctl restart docker.service") == 1


def test_docker_that_does_not_come_back_gets_the_previous_daemon_json_and_a_reset(tmp_path, monkeypatch):
    monkeypatch.setattr(docker_ops, "DOCKER_START_SECONDS", 3)
    path = daemon_files(tmp_path)
    host = ShellHost(tmp_path, starts_with="old")  # dockerd starts only with the old file
    knobs = {"new": "docker_new_knob"}
    assert _daemon_json_applied(None, host, str(path), NEW, knobs) is False
    assert path.read_text() == '{"old": true}'
    assert host.calls().count("systemctl reset-failed docker.service docker.socket") == 2
    assert (tmp_path / "state" / "up").exists()  # started again on the restored file
    assert host.logs == ["Docker did not start with the new daemon.json (changed: new (docker_new_knob), "
                         "old; unable to configure the Docker daemon with file daemon.json); the "
                         "previous daemon.json was restored and Docker started again. No further wave starts."]


def test_a_first_daemon_json_is_put_in_place_for_dockers_first_start(tmp_path):
    path = daemon_files(tmp_path, old=None)
    host = ShellHost(tmp_path, docker_active=False)
    assert _daemon_json_applied(None, host, str(path), NEW, {}) is True
    assert path.read_text() == '{"new": true}'
    assert not [call for call in host.calls() if "restart" in call]


class NftHost(ShellHost):
    """A ShellHost whose ``nft`` keeps one table's text in a file (``-f`` loads a file
    or stdin, ``list table`` prints it, ``delete table`` removes it)."""

    def __init__(self, tmp_path, live=None):
        super().__init__(tmp_path)
        self.table = self.state / "table"
        if live is not None:
            self.table.write_text(live)
        self._script("nft", f'''
            case "$1" in
              -f) if [ "$2" = - ]; then cat > {self.table}.in; else cat "$2" > {self.table}.in; fi
                  sed -n '/^table inet funasr_fleet {{$/,$p' {self.table}.in | tail -n +1 > {self.table}
                  echo "nft -f $2" >> "$STATE/calls";;
              list) [ -f {self.table} ] && cat {self.table};;
              delete) rm -f {self.table}; echo "nft delete" >> "$STATE/calls";;
            esac''')


def firewall_file(tmp_path, new):
    path = tmp_path / "firewall.nft"
    path.with_name("firewall.nft.funasr-fleet-new").write_text(new)
    return path


@pytest.mark.parametrize("live", ["table inet funasr_fleet {\n  old\n}\n", None])
def test_a_ruleset_that_drops_the_probe_is_undone_on_the_spot(tmp_path, monkeypatch, live):
    monkeypatch.setattr(nftables_ops, "reaches", lambda url: url != "ws://asr-1:10095")
    path = firewall_file(tmp_path, "table inet funasr_fleet {}\ndelete table inet funasr_fleet\n"
                                   "table inet funasr_fleet {\n  new\n}\n")
    host = NftHost(tmp_path, live)
    assert _ruleset_loaded(None, host, str(path), "inet funasr_fleet",
                           ("ws://asr-1:10095", "ws://asr-1:10096")) is False
    assert (host.table.read_text() if host.table.exists() else None) == live  # as it was
    assert not path.exists() and not path.with_name("firewall.nft.funasr-fleet-new").exists()
    assert host.logs == ["the new firewall (funasr_allow_from) drops this control node's probe to "
                         "ws://asr-1:10095: table inet funasr_fleet was put back as it was. Allow the "
                         "control node's address in funasr_allow_from. No further wave starts."]


def test_a_ruleset_the_probe_gets_through_is_kept_and_installed_for_boot(tmp_path, monkeypatch):
    monkeypatch.setattr(nftables_ops, "reaches", lambda url: True)
    new = "table inet funasr_fleet {}\ndelete table inet funasr_fleet\ntable inet funasr_fleet {\n  new\n}\n"
    path = firewall_file(tmp_path, new)
    host = NftHost(tmp_path, "table inet funasr_fleet {\n  old\n}\n")
    assert _ruleset_loaded(None, host, str(path), "inet funasr_fleet", ("ws://asr-1:10095",))
    assert host.table.read_text() == "table inet funasr_fleet {\n  new\n}\n" and path.read_text() == new
    assert host.logs == []


def test_a_failed_servers_own_words_carry_its_restarts_and_last_log_lines():
    from types import SimpleNamespace

    from funasr_fleet.operations.release import server_words

    class Host:
        def run_shell_command(self, command):
            text = command.get_raw_value()
            lines = (["/funasr-funasr-1 restarts 3, restarting (exit 255)"] if "inspect" in text else
                     ["I20261201 12:00:01 funasr-wss-server-2pass.cpp:95] Set vad-dir : /workspace/models/vad",
                      "", "E20261201 12:00:01 util.cpp:120] /workspace/models/lm/TLG.fst do not exists."])
            assert "--no-log-prefix" in text or "inspect" in text
            return True, SimpleNamespace(stdout_lines=lines, stderr_lines=[])

    assert server_words(Host(), "/opt/funasr", "funasr") == (
        "server: funasr-funasr-1 restarts 3, restarting (exit 255); its log: "
        "I20261201 12:00:01 funasr-wss-server-2pass.cpp:95] Set vad-dir : /workspace/models/vad | "
        "E20261201 12:00:01 util.cpp:120] /workspace/models/lm/TLG.fst do not exists.")


def test_diff_shows_the_changed_lines_of_a_managed_file_and_never_a_secret():
    from pyinfra.api import HiddenValue

    from funasr_fleet.operations.files import managed_paths

    files = [("/opt/funasr/hotwords.txt", "阿里巴巴 20\n语音识别 15\n", "644"),
             ("/opt/funasr/ssl/server.key", HiddenValue("-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n"), "600")]
    facts = {"PathStates": {}, "FileContents": ["阿里巴巴 20", "小智 30"]}
    _, host = run_operation(managed_paths, facts, files=files)
    assert host.logs == []  # no --diff: no diff, no extra command

    from helpers import FakeHost
    from pyinfra.context import ctx_host

    host_with_diff = FakeHost(facts)
    host_with_diff.state.config.DIFF = True
    with ctx_host.use(host_with_diff):
        list(managed_paths._inner(files=files))
    text = "\n".join(host_with_diff.logs)
    assert "Will modify /opt/funasr/hotwords.txt" in text
    assert "小智 30" in text and "语音识别 15" in text  # the line removed and the line added
    assert "server.key" not in text and "c2VjcmV0" not in text
    assert [call for call in host_with_diff.fact_calls if call[0] == "FileContents"] == [
        ("FileContents", {"path": "/opt/funasr/hotwords.txt"})]


@pytest.mark.parametrize("record_config, changed_before, age, probes, ahead_log", [
    # Runs the release, unchanged: probed ahead (wave 1's round), its own gate reuses it.
    ("new", False, 0, 1, True),
    # Not yet on the release (an upgrade is coming in its wave): not probed ahead.
    ("old", False, 0, 1, False),
    # Changed in this run after the ahead probe: its own gate probes again.
    ("new", True, 0, 2, False),
    # The ahead result is older than AHEAD_FRESH_SECONDS: probed again.
    ("new", False, 61, 2, False),
])
def test_a_later_waves_host_already_on_the_release_is_probed_once_ahead(
        monkeypatch, record_config, changed_before, age, probes, ahead_log):
    from pyinfra.context import ctx_host

    from funasr_fleet.probe import ProbeResult
    from helpers import FakeHost

    calls = []
    result = ProbeResult(url="ws://h:10095", ok=True, stage="done", latency_s=0.1)
    monkeypatch.setattr(gate_module, "wait_until_healthy", lambda *a, **k: calls.append(1) or result)
    release = dict(RELEASE) if record_config == "new" else V11
    fake = FakeHost({"ReleaseRecord": {"current": release},
                     "ComposeProject": {"containers": [dict(running(record_config),
                                                                started_at="2026-11-27T01:00:00Z")],
                                        "image_id": "sha256:x"}})
    clock = [1000.0]
    monkeypatch.setattr(gate_module.time, "monotonic", lambda: clock[0])
    arguments = dict(gate=GATE, release=RELEASE, directory="/opt/funasr", project="funasr")
    with ctx_host.use(fake):
        assert list(release_healthy._inner(**arguments, ahead=True)) == []
        assert len(calls) == (1 if record_config == "new" else 0)
        clock[0] += age
        if changed_before:
            done = type("Meta", (), {"executed": True})()
            fake.state.ops = {fake: {"op": type("Data", (), {"operation_meta": done})()}}
        list(release_healthy._inner(**arguments))
    assert len(calls) == probes
    assert any("probed with an earlier wave" in line for line in fake.logs) == ahead_log
