"""pyinfra --dry changes nothing on the control node and says what a real run would do there:
the models it would fetch (with the manifest digests a real fetch writes), the certificates
it would issue (and the CA it would create), the image tarballs it would save."""

import hashlib
import os
import subprocess
import sys
import time

import pytest
from pyinfra.context import ctx_host

from funasr_fleet import images, tls
from funasr_fleet.deploys.service import planned_inputs, release_files, server_certificate
from funasr_fleet.hub import fetch_models
from funasr_fleet.lab.standin_hub import StandinHub
from funasr_fleet.lab.standin_models import standin_repo
from funasr_fleet.pyinfra_internals import dry_run
from funasr_fleet.settings import load_settings
from helpers import REPO, FakeHost, make_inventory

SIZE = 50_000


@pytest.fixture
def hub():
    server = StandinHub(size=SIZE).start()
    yield server
    server.stop()


def snapshot(root):
    """Every path under ``root`` with its type, mode and (files) sha256; None: no ``root``."""
    if not os.path.lexists(root):
        return None
    found = {}
    for directory, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(directory, name)
            status = os.lstat(path)
            digest = None
            if os.path.isfile(path) and not os.path.islink(path):
                with open(path, "rb") as handle:
                    digest = hashlib.sha256(handle.read()).hexdigest()
            found[os.path.relpath(path, root)] = (status.st_mode, digest)
    return found


def settings_for(tmp_path, hub_url, name="h1", **data):
    inventory = make_inventory([(name, {"funasr_models_endpoint": hub_url,
                                        "funasr_models_cache_dir": str(tmp_path / "models"),
                                        "funasr_image_cache_dir": str(tmp_path / "images"),
                                        "funasr_tls_dir": str(tmp_path / "tls"), **data})])
    return load_settings(inventory.get_host(name))


def downloads(hub):
    return [request for request in hub.requests if request["path"].endswith("/repo")]


def test_dry_lists_what_it_would_fetch_writes_nothing_and_plans_a_real_fetchs_digests(hub, tmp_path):
    settings = settings_for(tmp_path, hub.url)
    specs = list(dict.fromkeys(settings.funasr_models.values()))
    fake = FakeHost({})
    with ctx_host.use(fake):
        delivery, planned = planned_inputs(settings)

    assert snapshot(tmp_path / "models") is None  # no cache dir, no lock, no .partial
    assert downloads(hub) == []  # listings only
    assert delivery is None  # pull delivery: no tarball
    assert [model.spec for model in planned] == specs
    fetches = [line for line in fake.logs if line.startswith("dry run: would fetch ")]
    assert len(fetches) == len(specs)
    for spec, line in zip(specs, fetches):
        repo = standin_repo(spec.id, spec.revision, SIZE)
        assert f"would fetch {spec.id}@{spec.revision} into " in line
        total = sum(file.size for file in repo.values())
        assert f"{len(repo)} files, {total:,} bytes" in line and total > 0
        for path, file in repo.items():
            assert f"{path} {file.size:,}" in line

    real = fetch_models(settings.funasr_models_endpoint, specs, settings.funasr_models_cache_dir)
    assert [model.manifest_sha256 for model in planned] == [model.manifest_sha256 for model in real]
    assert [model.manifest for model in planned] == [model.manifest for model in real]
    assert [model.directory for model in planned] == [model.directory for model in real]
    # So the plan's configuration digest is the one a real run deploys.
    with ctx_host.use(FakeHost({})):
        certificate = server_certificate(settings)
    assert release_files(settings, planned, certificate)[1] == release_files(settings, real, certificate)[1]


def test_dry_with_the_models_cached_reads_the_cache_only(hub, tmp_path):
    settings = settings_for(tmp_path, hub.url)
    specs = list(dict.fromkeys(settings.funasr_models.values()))
    real = fetch_models(settings.funasr_models_endpoint, specs, settings.funasr_models_cache_dir)
    before, requests = snapshot(tmp_path / "models"), len(hub.requests)
    fake = FakeHost({})
    with ctx_host.use(fake):
        _, planned = planned_inputs(settings)
    assert snapshot(tmp_path / "models") == before
    assert len(hub.requests) == requests
    assert fake.logs == []
    assert planned == real


def test_dry_lists_a_revision_once_for_the_whole_fleet(hub, tmp_path):
    settings = settings_for(tmp_path, hub.url)
    first, second = FakeHost({}), FakeHost({})
    second.state = first.state  # two hosts of one pyinfra run
    for fake in (first, second):
        with ctx_host.use(fake):
            planned_inputs(settings)
    wanted = len(set(settings.funasr_models.values()))
    deadline = time.monotonic() + 5  # the hub records a request after its reply was sent
    while True:
        listings = [request for request in hub.requests if request["path"].endswith("/repo/files")]
        if len(listings) >= wanted or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert len(listings) == wanted
    assert len(second.logs) == len(first.logs) > 0  # each host still says what it gets


def test_dry_without_a_ca_would_create_it_and_issue_and_writes_nothing(tmp_path):
    settings = settings_for(tmp_path, "http://unused", ssh_hostname="192.0.2.9")
    fake = FakeHost({})
    with ctx_host.use(fake):
        planned = server_certificate(settings, dry=True)
    assert snapshot(tmp_path / "tls") is None
    assert isinstance(planned, tls.PlannedCertificate) and planned.new_ca
    assert fake.logs == [f"dry run: would create the fleet CA in {tmp_path / 'tls' / 'ca'} and issue a "
                         f"new TLS certificate into {tmp_path / 'tls' / 'hosts' / 'h1'} (no certificate "
                         "yet): h1, 192.0.2.9"]
    # The release still plans: the host's TLS files change, as they would.
    files, _ = release_files(settings, [], planned)
    assert b"--dry" in dict((path, content) for path, content, _ in files)["/opt/funasr/ssl/server.crt"]


def test_dry_with_a_matching_certificate_issues_nothing_and_plans_the_same_config(tmp_path):
    settings = settings_for(tmp_path, "http://unused")
    with ctx_host.use(FakeHost({})):
        certificate = server_certificate(settings)
    before = snapshot(tmp_path / "tls")
    fake = FakeHost({})
    with ctx_host.use(fake):
        planned = server_certificate(settings, dry=True)
    assert snapshot(tmp_path / "tls") == before
    assert fake.logs == []
    assert planned == certificate
    assert release_files(settings, [], planned)[1] == release_files(settings, [], certificate)[1]


def test_dry_with_changed_names_would_reissue_and_keeps_the_old_files(tmp_path):
    settings = settings_for(tmp_path, "http://unused")
    with ctx_host.use(FakeHost({})):
        certificate = server_certificate(settings)
    before = snapshot(tmp_path / "tls")
    changed = settings_for(tmp_path, "http://unused", funasr_tls_sans=["asr.example.com"])
    fake = FakeHost({})
    with ctx_host.use(fake):
        planned = server_certificate(changed, dry=True)
    assert snapshot(tmp_path / "tls") == before
    assert isinstance(planned, tls.PlannedCertificate) and not planned.new_ca
    assert fake.logs == [f"dry run: would issue a new TLS certificate into {tmp_path / 'tls' / 'hosts' / 'h1'} "
                         "(its names changed (it had h1)): h1, asr.example.com"]
    # A re-issue changes the host's configuration (its servers restart), in the plan too.
    assert release_files(changed, [], planned)[1] != release_files(changed, [], certificate)[1]


def test_dry_refuses_a_shared_tls_directory_as_a_real_run_does(tmp_path):
    from funasr_fleet.errors import DeployError

    shared = tmp_path / "tls"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    settings = settings_for(tmp_path, "http://unused")
    with ctx_host.use(FakeHost({})), pytest.raises(DeployError, match="is open to other users"):
        server_certificate(settings, dry=True)
    assert list(shared.iterdir()) == []


def _docker(monkeypatch, image_id="sha256:" + "ab" * 32):
    calls = []

    def run(command, **kwargs):
        calls.append(command)
        assert command[:3] == ["docker", "image", "inspect"], command
        return subprocess.CompletedProcess(command, 0, stdout=f"{image_id}\n", stderr="")

    def popen(command, **kwargs):
        raise AssertionError(f"--dry ran {command}")

    monkeypatch.setattr(images.subprocess, "run", run)
    monkeypatch.setattr(images.subprocess, "Popen", popen)
    return calls


def test_dry_says_which_tarball_it_would_save_without_docker_save(hub, tmp_path, monkeypatch):
    calls = _docker(monkeypatch)
    settings = settings_for(tmp_path, hub.url, funasr_image_delivery="tarball")
    fake = FakeHost({})
    with ctx_host.use(fake):
        delivery, _ = planned_inputs(settings)
    assert snapshot(tmp_path / "images") is None
    assert calls == [["docker", "image", "inspect", "--format", "{{.Id}}", settings.image]]
    assert delivery == images.ImageTarball(image=settings.image, image_id="sha256:" + "ab" * 32,
                                           path=tmp_path / "images" / f"{'ab' * 32}.tar.gz")
    assert fake.logs[0] == (f"dry run: would save image {settings.image} (sha256:{'ab' * 32}) with "
                            f"docker save into {delivery.path}")


def test_dry_with_the_tarball_saved_says_nothing_about_it(hub, tmp_path, monkeypatch):
    _docker(monkeypatch)
    saved = tmp_path / "images" / f"{'ab' * 32}.tar.gz"
    saved.parent.mkdir()
    saved.write_bytes(b"saved")
    before = snapshot(tmp_path / "images")
    settings = settings_for(tmp_path, hub.url, funasr_image_delivery="tarball")
    fake = FakeHost({})
    with ctx_host.use(fake):
        delivery, _ = planned_inputs(settings)
    assert delivery.path == saved and snapshot(tmp_path / "images") == before
    assert not any("would save" in line for line in fake.logs)


def test_outside_the_pyinfra_cli_a_run_is_not_dry():
    assert dry_run() is False
    # A fresh process: asking does not import pyinfra_cli (whose import gevent-patches it).
    check = ("import sys; from funasr_fleet.pyinfra_internals import dry_run; "
             "print(dry_run(), 'pyinfra_cli' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", check], cwd=REPO, capture_output=True, text=True,
                            env=dict(os.environ, PYTHONPATH=str(REPO)), timeout=60)
    assert result.stdout.split() == ["False", "False"], result.stderr


@pytest.mark.parametrize("flag, expected", [("--dry", "True"), ("--debug-operations", "False")])
def test_the_pyinfra_cli_s_dry_flag_is_seen_while_hosts_are_prepared(tmp_path, flag, expected):
    # The real CLI, preparing in its per-host greenlets; neither flag executes anything.
    deploy = tmp_path / "probe_deploy.py"
    deploy.write_text("from funasr_fleet.pyinfra_internals import dry_run\n"
                      "print('DRY_RUN', dry_run())\n")
    environment = dict(os.environ, PYTHONPATH=str(REPO))
    result = subprocess.run([sys.executable, "-m", "pyinfra", "-y", "@local", str(deploy), flag],
                            cwd=REPO, env=environment, capture_output=True, text=True, timeout=120)
    assert f"DRY_RUN {expected}" in result.stdout, result.stdout + result.stderr
