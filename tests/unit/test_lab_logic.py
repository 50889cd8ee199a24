"""The lab's pure logic: mirror discovery from apt config, state file, run flags, stand-in models."""

import json

import pytest

from funasr_fleet.lab import aptconf, hosts, state
from funasr_fleet.lab.standin_models import ROLE_FILES, default_model_sets, seed_standin_models
from funasr_fleet.models import load_cached_model

DEB822 = """Types: deb
# a comment
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main
"""


def test_deb822_mirror_skips_security_suites():
    assert aptconf.deb822_mirrors(DEB822) == ["http://mirror.example/debian"]


def test_one_line_sources_with_options():
    text = ("deb [arch=amd64 signed-by=/k.gpg] http://other.example/debian trixie main contrib\n"
            "deb https://packages.example/apt cloud-sdk main\n"
            "deb http://other.example/debian-security trixie-security main\n")
    assert aptconf.one_line_mirrors(text) == ["http://other.example/debian"]


def test_debian_mirror_reads_sources_d_then_sources_list(tmp_path):
    (tmp_path / "etc/apt/sources.list.d").mkdir(parents=True)
    (tmp_path / "etc/apt/sources.list.d/debian.sources").write_text(DEB822)
    (tmp_path / "etc/apt/sources.list").write_text("deb http://second.example/debian trixie main\n")
    assert aptconf.debian_mirror(tmp_path) == "http://mirror.example/debian"


def test_debian_mirror_missing_is_a_clear_error(tmp_path):
    with pytest.raises(RuntimeError, match="no Debian mirror"):
        aptconf.debian_mirror(tmp_path)


def test_state_round_trip_and_missing_state_message(tmp_path, monkeypatch):
    monkeypatch.setenv("FUNASR_LAB_DIR", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="python -m funasr_fleet.lab up"):
        state.load_state()
    state.save_state({"version": state.STATE_VERSION, "hosts": []})
    assert state.load_state()["hosts"] == []
    (tmp_path / "state.json").write_text(json.dumps({"version": 0}))
    with pytest.raises(ValueError, match="--fresh"):
        state.load_state()


def test_run_flags_never_privileged_and_publish_on_loopback_only():
    flags = hosts.run_flags(2)
    assert "--privileged" not in flags and "SYS_RESOURCE" not in flags
    published = [flags[i + 1] for i, flag in enumerate(flags) if flag == "--publish"]
    assert published and all(port.startswith("127.0.0.1::") for port in published)
    assert flags[flags.index("--name") + 1] == "funasr-lab-2"
    assert "funasr-lab-2-docker:/var/lib/docker" in flags


def test_standin_models_are_seeded_once_with_valid_manifests(tmp_path):
    specs = default_model_sets()
    assert {role for role, _ in specs} == set(ROLE_FILES) - {"lm"}
    assert seed_standin_models(tmp_path, specs, size=1000) == len({spec for _, spec in specs})
    assert seed_standin_models(tmp_path, specs, size=1000) == 0
    cached = load_cached_model(tmp_path, specs[0][1])
    assert {entry["path"] for entry in cached.files} == set(ROLE_FILES[specs[0][0]])
