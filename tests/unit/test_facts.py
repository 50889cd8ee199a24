"""Facts: one command each, defensive parsing."""

import json

import pytest

from funasr_fleet.digest import sha256_text
from funasr_fleet.facts.apt import DebPackageVersions, KeyringFingerprints
from funasr_fleet.facts.docker import ComposeContainers, DockerImageId
from funasr_fleet.facts.files import PathStates
from funasr_fleet.facts.models import ModelManifests
from funasr_fleet.facts.nftables import NftTableDigest
from funasr_fleet.facts.nvidia import NvidiaGpus
from funasr_fleet.facts.server import HostAccess
from funasr_fleet.facts.systemd import SystemdUnitState


def test_path_states_parses_files_and_directories():
    output = ["F\t644\troot\troot\t" + "a" * 64 + "\t/opt/funasr/compose.yaml",
              "D\t755\troot\troot\t-\t/opt/funasr"]
    states = PathStates().process(output)
    assert states["/opt/funasr/compose.yaml"] == {"type": "file", "mode": "644", "owner": "root",
                                                  "group": "root", "sha256": "a" * 64}
    assert states["/opt/funasr"]["type"] == "directory" and states["/opt/funasr"]["sha256"] is None


def test_path_states_quotes_paths_into_one_command():
    command = PathStates().command(paths=["/opt/a b", "/opt/c"])
    assert "'/opt/a b' /opt/c" in command and command.count("sha256sum") == 1


def test_deb_package_versions_keeps_installed_only():
    output = ["installed\tdocker.io\t26.1.5+dfsg1-9", "not-installed\tdocker-compose\t"]
    assert DebPackageVersions().process(output) == {"docker.io": "26.1.5+dfsg1-9"}


def test_systemd_unit_state():
    assert SystemdUnitState().process(["active", "enabled", "no"]) == {
        "active": True, "failed": False, "enabled": True, "need_reload": False}
    assert SystemdUnitState().process(["inactive", "disabled", "yes"]) == {
        "active": False, "failed": False, "enabled": False, "need_reload": True}
    assert SystemdUnitState().process(["failed", "enabled", "no"])["failed"] is True
    assert SystemdUnitState().process([]) == {"active": False, "failed": False, "enabled": False,
                                              "need_reload": False}


def test_docker_image_id_absent_is_none():
    assert DockerImageId().process([]) is None
    assert DockerImageId().process(["sha256:abc"]) == "sha256:abc"


def test_compose_containers_strips_names_and_defaults_labels():
    line = json.dumps({"name": "/funasr-funasr-1", "status": "running", "image_id": "sha256:x",
                       "started_at": "2026-01-01T00:00:00Z", "restart_count": 0, "labels": None})
    assert ComposeContainers().process([line])[0]["name"] == "funasr-funasr-1"
    assert ComposeContainers().process([line])[0]["labels"] == {}


def test_keyring_fingerprints():
    assert KeyringFingerprints().process(["9DC858229FC7DD38854AE2D88D81803C0EBFCD88", ""]) == [
        "9DC858229FC7DD38854AE2D88D81803C0EBFCD88"]


def test_model_manifests_reads_rsync_and_skips_damaged_manifests():
    output = ["rsync=rsync  version 3.4.1  protocol version 32", "free=1234", 'iic/a@v1\t{"id": "iic/a",  "revision": "v1", "files": []}', "/m/b.json\t{broken"]
    facts = ModelManifests().process(output)
    assert facts["rsync"] == (3, 4, 1) and facts["free_kib"] == 1234
    assert ModelManifests().process(["rsync="])["rsync"] is None  # no rsync on the host
    assert facts["manifests"] == {"iic/a@v1": {"id": "iic/a", "revision": "v1", "files": []}}


def run_fact_command(fact, tmp_path, nvidia_smi=None):
    """Run a fact's shell command with PATH holding only the tools it may use (+ a fake)."""
    import os
    import shutil
    import subprocess
    import tempfile
    from pathlib import Path

    bin_dir = Path(tempfile.mkdtemp(dir=tmp_path))
    for tool in ("sh", "sed", "head"):
        os.symlink(shutil.which(tool), bin_dir / tool)
    if nvidia_smi is not None:
        (bin_dir / "nvidia-smi").write_text("#!/bin/sh\n" + nvidia_smi)
        (bin_dir / "nvidia-smi").chmod(0o755)
    result = subprocess.run([str(bin_dir / "sh"), "-c", fact.command()], capture_output=True,
                            text=True, env={"PATH": str(bin_dir)})
    return fact.process(result.stdout.splitlines())


def test_nvidia_gpus_lists_every_gpu(tmp_path):
    smi = ('echo "0, NVIDIA A10, GPU-1111aaaa-22bb-33cc-44dd-555555eeeeee, 23028, 550.54.15"\n'
           'echo "1, NVIDIA A10, GPU-9999aaaa-22bb-33cc-44dd-555555eeeeee, 23028, 550.54.15"\n')
    facts = run_fact_command(NvidiaGpus(), tmp_path, smi)
    assert facts["ok"] and [gpu["index"] for gpu in facts["gpus"]] == ["0", "1"]
    assert facts["gpus"][0] == {"index": "0", "name": "NVIDIA A10",
                                "uuid": "GPU-1111aaaa-22bb-33cc-44dd-555555eeeeee",
                                "memory_mib": 23028, "driver": "550.54.15"}


def test_nvidia_gpus_says_why_there_are_none(tmp_path):
    assert run_fact_command(NvidiaGpus(), tmp_path)["error"] == "nvidia-smi not found"
    broken = 'echo "NVIDIA-SMI has failed because it couldn\'t communicate with the NVIDIA driver."; exit 9\n'
    facts = run_fact_command(NvidiaGpus(), tmp_path, broken)
    assert not facts["ok"] and facts["error"].startswith("nvidia-smi failed: NVIDIA-SMI has failed")
    assert NvidiaGpus().process([])["error"] == "nvidia-smi lists no GPU"


def test_nft_table_digest_reads_the_comment_of_the_live_table_and_the_files_digest(tmp_path):
    import subprocess

    digest = "ab" * 32
    listing = ["table inet funasr_fleet {", f'\tcomment "funasr-fleet config-sha256 {digest}"',
               "\tset allowed_v4 {", "\t}", "}"]
    assert NftTableDigest().process(listing) == {"live": digest, "file": None}
    assert NftTableDigest().process(["table inet funasr_fleet {", "}"])["live"] is None  # edited by hand
    assert NftTableDigest().process([]) == {"live": None, "file": None}  # no table, no file
    ruleset = tmp_path / "firewall.nft"
    ruleset.write_text("table inet funasr_fleet {}\n")
    # the real command, without nft on PATH (not installed yet): never fails, reads the file
    command = NftTableDigest().command(table="inet funasr_fleet", path=str(ruleset))
    run = subprocess.run(["sh", "-c", command], capture_output=True, text=True,
                         env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert run.returncode == 0
    assert NftTableDigest().process(run.stdout.splitlines()) == {
        "live": None, "file": sha256_text("table inet funasr_fleet {}\n")}


def test_model_manifests_command_lists_model_directories_and_never_fails(tmp_path):
    import subprocess

    from funasr_fleet.models import MANIFEST

    (tmp_path / "iic" / "vad@v2").mkdir(parents=True)
    (tmp_path / "iic" / "vad@v2" / MANIFEST).write_text('{"id": "iic/vad",\n "revision": "v2"}')
    (tmp_path / ".funasr-fleet-staging" / "iic" / "x@v1").mkdir(parents=True)  # not a model dir
    for directory, expected in ((tmp_path, {"iic/vad@v2": {"id": "iic/vad", "revision": "v2"}}),
                                (tmp_path / "missing", {})):  # e.g. the first seed
        run = subprocess.run(["sh", "-c", ModelManifests().command(str(directory))],
                             capture_output=True, text=True)
        assert run.returncode == 0, run.stderr
        assert ModelManifests().process(run.stdout.splitlines())["manifests"] == expected


@pytest.mark.parametrize("cpuinfo, aes", [
    ("processor\t: 0\nflags\t\t: fpu sse2 aes avx2\n", True),         # x86 with AES-NI
    ("processor\t: 0\nFeatures\t: fp asimd aes pmull sha1\n", True),  # arm64 with crypto
    ("processor\t: 0\nFeatures\t: fp asimd evtstrm crc32 cpuid\n", False),  # Raspberry Pi 4
    ("model name\t: aes lookalike\nflags\t\t: fpu vaes_x\n", False),
    (None, False),                                                    # no /proc/cpuinfo
])
def test_model_manifests_reads_whether_the_hosts_cpu_has_aes(tmp_path, monkeypatch, cpuinfo, aes):
    import subprocess

    from funasr_fleet import transfer

    path = tmp_path / "cpuinfo"
    if cpuinfo is not None:
        path.write_text(cpuinfo)
    monkeypatch.setattr(ModelManifests, "CPUINFO", str(path))
    run = subprocess.run(["sh", "-c", ModelManifests().command(str(tmp_path))], capture_output=True, text=True)
    assert ModelManifests().process(run.stdout.splitlines())["cpu_aes"] is aes
    assert transfer.cpu_has_aes.__wrapped__(str(path)) is aes  # the control node's reading agrees


def test_gpu_export_state_reads_the_marker_and_the_images_id_in_one_command(tmp_path):
    import os
    import subprocess

    from funasr_fleet.facts.nvidia import EXPORT_MARKER, GpuExportState

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "docker").write_text('#!/bin/sh\n[ "$5" = "lab/gpu:1" ] && echo sha256:abc\n')
    (bin_dir / "docker").chmod(0o755)

    def state(path, image="lab/gpu:1"):
        run = subprocess.run(["sh", "-c", GpuExportState().command(str(path), image)],
                             capture_output=True, text=True,
                             env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"})
        assert run.returncode == 0, run.stderr
        return GpuExportState().process(run.stdout.splitlines())

    copy = tmp_path / "iic" / "asr@v2.0.5+blade-0123"
    assert state(copy) == {"made_for": None, "image_id": "sha256:abc"}  # no copy yet
    assert state(copy, "lab/other:1") == {"made_for": None, "image_id": None}  # no such image
    copy.mkdir(parents=True)
    (copy / EXPORT_MARKER).write_text("sha256:abc\n")
    assert state(copy) == {"made_for": "sha256:abc", "image_id": "sha256:abc"}


def run_host_access(tmp_path, sudo, fake_sudo=None):
    """HostAccess's command as a user "deploy" (uid 1000) would run it, with
    ``fake_sudo`` as sudo's script (None: sudo is not installed)."""
    import os
    import shutil
    import subprocess
    import tempfile
    from pathlib import Path

    bin_dir = Path(tempfile.mkdtemp(dir=tmp_path))
    for tool in ("sh", "head"):
        os.symlink(shutil.which(tool), bin_dir / tool)
    fakes = {"id": 'case "$1" in -un) echo deploy;; -u) echo 1000;; esac\n', "sudo": fake_sudo}
    for name, script in fakes.items():
        if script is not None:
            (bin_dir / name).write_text("#!/bin/sh\n" + script)
            (bin_dir / name).chmod(0o755)
    result = subprocess.run([str(bin_dir / "sh"), "-c", HostAccess().command(sudo=sudo)],
                            capture_output=True, text=True, env={"PATH": str(bin_dir)})
    assert result.returncode == 0, result.stderr
    return HostAccess().process(result.stdout.splitlines())


@pytest.mark.parametrize("fake_sudo, sudo, error", [
    ("exit 0\n", "ok", ""),
    (None, "missing", ""),
    ('echo "sudo: a password is required" >&2; exit 1\n', "password", "sudo: a password is required"),
    ('echo "sudo-rs: interactive authentication is required" >&2; exit 1\n', "password",
     "sudo-rs: interactive authentication is required"),
    ('echo "sudo: sorry, you must have a tty to run sudo" >&2; echo more >&2; exit 1\n', "failed",
     "sudo: sorry, you must have a tty to run sudo"),
])
def test_host_access_tries_sudo_without_a_password(tmp_path, fake_sudo, sudo, error):
    access = run_host_access(tmp_path, True, fake_sudo)
    assert (access["user"], access["uid"], access["sudo"], access["sudo_error"]) == ("deploy", 1000, sudo, error)


def test_host_access_does_not_try_sudo_when_the_run_does_not_use_it(tmp_path):
    access = run_host_access(tmp_path, False, "touch tried; exit 1\n")
    assert access["sudo"] is None and not (tmp_path / "tried").exists()
    assert "sudo" not in HostAccess().command(sudo=False)


def test_host_access_parses_what_it_does_not_expect_defensively():
    assert HostAccess().process([]) == HostAccess().default()
    odd = HostAccess().process(["uid=", "sudo=maybe", "something else"])
    assert odd["uid"] is None and odd["sudo"] == "failed" and "maybe" in odd["sudo_error"]
