"""Validation: one typed view per host; every problem names host, key, value, source, fix."""

import dataclasses
from pathlib import Path

import pytest

from funasr_fleet import settings as settings_module
from funasr_fleet.errors import SettingsError
from funasr_fleet.settings import KNOBS, Settings, check_inventory, load_settings
from helpers import group_data, make_inventory


def cpu_inventory(host_data=None, cpu_data=None, override=None):
    return make_inventory(
        [("h1", host_data or {}), ("h2", {})],
        groups={"cpu": (["h1", "h2"], cpu_data if cpu_data is not None else group_data("cpu"))},
        override=override,
    )


def problems_of(inventory):
    with pytest.raises(SettingsError) as caught:
        check_inventory(inventory)
    return str(caught.value)


def test_defaults_validate_and_derive_the_image():
    settings = load_settings(cpu_inventory().get_host("h1"))
    assert settings.image == ("registry.cn-hangzhou.aliyuncs.com/funasr_repo/funasr:"
                              "funasr-runtime-sdk-online-cpu-0.1.13")
    assert settings.instances[0].probe_url == "wss://h1:10095"  # TLS unless chosen otherwise
    assert settings.funasr_tls == "generated"
    assert set(settings.funasr_models) == {"asr", "online_asr", "vad", "punc", "itn", "lm"}


def test_every_knob_is_in_all_py_and_in_settings():
    all_keys = set(group_data("all"))
    fields = {f.name for f in dataclasses.fields(Settings)} - {"host", "ssh_hostname", "groups"}
    assert set(KNOBS) == all_keys == fields


def test_every_knob_is_declared_once_and_settings_takes_its_fields_from_the_declarations():
    from collections import Counter

    from funasr_fleet.settings import DECLARATIONS, KNOB_DECLARATIONS, Knob

    names = [knob.name for knob in KNOB_DECLARATIONS]
    assert [name for name, count in Counter(names).items() if count > 1] == []
    assert names == list(KNOBS) == [item.name for item in DECLARATIONS if isinstance(item, Knob)]
    fields = [(f.name, f.type) for f in dataclasses.fields(Settings)][1:-2]
    assert fields == [(knob.name, knob.type) for knob in KNOB_DECLARATIONS]


def test_every_declared_default_passes_its_own_checker():
    from funasr_fleet.settings import KNOB_DECLARATIONS

    for knob in KNOB_DECLARATIONS:
        assert isinstance(knob.check(knob.default), knob.type), knob.name


@pytest.mark.parametrize("key, value, expected", [
    ("funasr_port", 70000, "funasr_port = 70000 (from host h1 in the inventory): must be an integer from 1 to 65535"),
    ("funasr_hotwords", {"阿里巴巴": "high"}, "weight 'high'; weights are integers 1-100"),
    ("funasr_version", "", "funasr_version = '' (from host h1 in the inventory): must be an image version"),
    ("funasr_version", "9.9.9", "is not a known 2pass image"),
    ("funasr_bind_address", "localhost", "must be an IP address"),
    ("funasr_tls", "files", "funasr_tls_cert or funasr_tls_key is empty"),
    ("docker_source", "snap", "must be one of 'distro', 'docker-repo'"),
    ("funasr_registry_password_env", "FUNASR_FLEET_TEST_UNSET_VAR", "is not set; export it"),
])
def test_bad_values_name_host_key_value_and_fix(key, value, expected):
    message = problems_of(cpu_inventory(host_data={key: value}))
    assert "nothing was changed on any host" in message
    assert f"h1: {key} = " in message
    assert expected in message


def test_unknown_key_in_group_data_suggests_the_knob():
    message = problems_of(cpu_inventory(cpu_data={**group_data("cpu"), "funasr_prot": 1}))
    assert "h1: funasr_prot = 1 (from group cpu" in message
    assert "unknown key; did you mean 'funasr_port'?" in message


def test_other_deploys_keys_are_left_alone_but_a_typo_in_ours_is_refused():
    # Another deploy's data in the same inventory (node_exporter's) is not ours to judge.
    others = {"node_exporter_version": "1.8.2", "monitoring_port": 9100}
    settings = load_settings(cpu_inventory(host_data=others, cpu_data={**group_data("cpu"),
                                                                       "node_exporter_port": 9100}).get_host("h1"))
    assert settings.funasr_version == "0.1.13"
    message = problems_of(cpu_inventory(host_data={**others, "funasr_verison": "0.1.13",
                                                   "nvidia_toolkit_verison": "1.17.8-1"}))
    assert "(2 problems)" in message
    assert ("h1: funasr_verison = '0.1.13' (from host h1 in the inventory): unknown key; "
            "did you mean 'funasr_version'? (remove or rename it)") in message
    assert "nvidia_toolkit_verison = '1.17.8-1' (from host h1 in the inventory): unknown key; " \
           "did you mean 'nvidia_toolkit_version'?" in message
    assert "node_exporter" not in message and "monitoring_port" not in message


def test_2pass_profile_accepts_an_lm_and_may_run_without_lm_and_itn():
    # funasr-wss-server-2pass.cpp:128 has --lm-dir (since online-cpu 0.1.6).
    settings = load_settings(cpu_inventory().get_host("h1"))
    assert settings.funasr_models["lm"].id == "iic/speech_ngram_lm_zh-cn-ai-wesp-fst"
    off = {"2pass": {"lm": None, "itn": None}}
    settings = load_settings(cpu_inventory(host_data={"funasr_models": off, "funasr_hotwords": {}})
                             .get_host("h1"))
    assert set(settings.funasr_models) == {"asr", "online_asr", "vad", "punc"}


@pytest.mark.parametrize("role", ["vad", "punc", "asr", "online_asr"])
def test_2pass_profile_refuses_to_run_without_vad_punc_or_asr(role):
    # Without VAD or PUNC the 2pass server starts, then breaks at serving time
    # (tpass-online-stream.cpp:9, funasrruntime.cpp FunTpassInferBuffer).
    message = problems_of(cpu_inventory(host_data={"funasr_models": {"2pass": {role: None}}}))
    assert f"profile '2pass' needs models for {role}" in message


@pytest.mark.parametrize("models, path", [
    ({}, "lm"),
    ({"2pass": {"lm": None}}, None),
    ({"offline": {"lm": None, "asr": {
        "id": "iic/speech_paraformer-large-contextual_asr_nat-zh-cn-16k-common-vocab8404-onnx",
        "revision": "v2.0.5"}}}, "embedding"),
])
def test_hotword_path_follows_the_model_set(models, path):
    from funasr_fleet.modelset import hotword_path
    profile = "offline" if "offline" in models else "2pass"
    data = {"funasr_models": models, "funasr_profile": profile,
            "funasr_version": "0.4.7" if profile == "offline" else "0.1.13"}
    if path is None:
        data["funasr_hotwords"] = {}
    assert hotword_path(load_settings(cpu_inventory(host_data=data).get_host("h1")).funasr_models) == path


def test_hotwords_on_a_model_set_that_cannot_apply_them_are_refused_with_the_fix():
    message = problems_of(cpu_inventory(host_data={"funasr_models": {"2pass": {"lm": None}},
                                                   "funasr_hotwords": {"小智": 30}}))
    assert "h1: funasr_hotwords = " in message
    assert "cannot apply them" in message and "funasr_models['2pass']['lm']" in message


@pytest.mark.parametrize("version, revision, refused", [
    ("0.1.9", "v2.0.4", True),    # 0.1.9 reads vad.yaml/vad.mvn: not the 1.0 layout
    ("0.1.10", "v2.0.4", False),  # 0.1.10 is the first 2pass image with the 1.0 layout
    ("0.1.13", "v1.2.0", True),   # a pre-1.0 revision on a current image
    ("0.1.13", "0123456789abcdef", False),  # a commit id: the layout cannot be told
])
def test_image_and_model_revision_layouts_must_match(version, revision, refused):
    vad = {"2pass": {"vad": {"id": "iic/speech_fsmn_vad_zh-cn-16k-common-onnx", "revision": revision}}}
    inventory = cpu_inventory(host_data={"funasr_models": vad, "funasr_version": version})
    if not refused:
        load_settings(inventory.get_host("h1"))
        return
    message = problems_of(inventory)
    assert f"funasr-runtime-sdk-online-cpu-{version}" in message
    assert f"iic/speech_fsmn_vad_zh-cn-16k-common-onnx@{revision}" in message


def test_lm_model_is_accepted_by_offline_profile():
    lm = {"offline": {"lm": {"id": "iic/speech_ngram_lm_zh-cn-ai-wesp-fst", "revision": "v1.0.2"}}}
    inventory = cpu_inventory(host_data={"funasr_models": lm, "funasr_profile": "offline",
                                         "funasr_version": "0.4.7"})
    assert "lm" in load_settings(inventory.get_host("h1")).funasr_models


def test_one_bad_host_stops_the_whole_inventory_and_all_problems_are_listed():
    inventory = make_inventory([("good", {}), ("bad", {"funasr_port": 0, "funasr_cpus": "x"})])
    message = problems_of(inventory)
    assert "(2 problems)" in message
    assert "bad: funasr_port" in message and "bad: funasr_cpus" in message
    assert "good:" not in message


def test_without_group_data_all_py_every_knob_takes_its_declared_default():
    """Another project's inventory, without this repository's group_data/all.py (which is
    generated from the same declarations): the same settings."""
    from funasr_fleet.settings import DEFAULTS

    bare = load_settings(make_inventory([("h1", {})], all_data={}).get_host("h1"))
    assert bare == load_settings(make_inventory([("h1", {})]).get_host("h1"))
    assert bare.funasr_port == DEFAULTS["funasr_port"]


def test_layers_precedence_override_beats_host_beats_group_beats_all():
    inventory = cpu_inventory(host_data={"funasr_port": 10100}, cpu_data={"funasr_port": 10200},
                              override={"funasr_io_threads": "4"})
    settings = load_settings(inventory.get_host("h1"))
    assert settings.funasr_port == 10100
    assert load_settings(inventory.get_host("h2")).funasr_port == 10200
    assert settings.funasr_io_threads == 4  # --data strings are converted


def test_hotwords_merge_across_layers_and_none_removes():
    inventory = make_inventory(
        [("h1", {"funasr_hotwords": {"小智": 30, "阿里巴巴": None}})],
        groups={"cpu": (["h1"], {"funasr_hotwords": {"阿里巴巴": 20, "语音 识别": 10}})},
    )
    assert load_settings(inventory.get_host("h1")).funasr_hotwords == {"语音 识别": 10, "小智": 30}


def test_models_merge_role_by_role_and_none_removes_a_role():
    inventory = make_inventory([("h1", {"funasr_models": {"2pass": {
        "itn": None, "vad": {"id": "iic/other_vad", "revision": "v9"}}}})])
    models = load_settings(inventory.get_host("h1")).funasr_models
    assert "itn" not in models and models["vad"].id == "iic/other_vad"
    assert models["asr"].id.startswith("iic/speech_paraformer-large")


def test_unpinned_model_revision_is_refused():
    message = problems_of(make_inventory([("h1", {"funasr_models": {"2pass": {
        "vad": {"id": "iic/x", "revision": "master"}}}})]))
    assert "pin a tag or commit" in message


def test_unlisted_tag_needs_the_allow_flag():
    inventory = make_inventory([("h1", {"funasr_version": "0.1.99", "funasr_allow_unlisted_tag": True})])
    assert load_settings(inventory.get_host("h1")).image_tag == "funasr-runtime-sdk-online-cpu-0.1.99"


def test_pyinfra_connection_keys_are_not_unknown():
    inventory = make_inventory([("h1", {"ssh_port": 2222, "ssh_user": "root", "_sudo": True})])
    assert load_settings(inventory.get_host("h1")).ssh_hostname == "h1"


def test_registry_password_comes_from_the_named_environment_variable(monkeypatch):
    monkeypatch.setenv("FUNASR_FLEET_TEST_PASSWORD", "s3cret")
    inventory = make_inventory([("h1", {"funasr_registry_password_env": "FUNASR_FLEET_TEST_PASSWORD",
                                        "funasr_registry_username": "bot"})])
    assert load_settings(inventory.get_host("h1")).registry_password == "s3cret"
    assert "s3cret" not in repr(settings_module.data_layers(inventory.get_host("h1")))


@pytest.mark.parametrize("name", ["README.md", "README.zh-CN.md"])
def test_every_knob_is_documented_in_the_readme(name):
    readme = (Path(__file__).resolve().parents[2] / name).read_text(encoding="utf-8")
    assert [key for key in KNOBS if f"`{key}`" not in readme] == []


@pytest.mark.parametrize("value", ["some", 0, -1, True, [], [0], ["gpu0"], 65])
def test_funasr_gpus_must_be_all_a_count_or_gpu_ids(value):
    inventory = make_inventory([("g1", {"funasr_gpus": value})])
    with pytest.raises(SettingsError, match=r"g1: funasr_gpus = .*must be 'all', a GPU count"):
        check_inventory(inventory)


def test_online_gpu_tags_of_third_party_guides_are_refused_unless_allowed():
    data = {"funasr_profile": "offline-gpu", "funasr_image_tag": "funasr-runtime-sdk-online-gpu-0.1.12"}
    with pytest.raises(SettingsError, match=r"g1: funasr_image_tag = 'funasr-runtime-sdk-online-gpu-"
                                            r"0.1.12' .*not a known offline-gpu image"):
        check_inventory(make_inventory([("g1", data)]))
    allowed = make_inventory([("g1", dict(data, funasr_allow_unlisted_tag=True))])
    assert load_settings(allowed.get_host("g1")).image.endswith(":funasr-runtime-sdk-online-gpu-0.1.12")


@pytest.mark.parametrize("data, expected", [
    ({"funasr_instance_per_gpu": True}, "funasr_instance_per_gpu = True .*uses no GPU"),
    ({"funasr_instance_per_gpu": True, "funasr_profile": "offline-gpu", "funasr_version": "0.2.1"},
     "funasr_gpus = 'all' .*set a count"),
    ({"funasr_instance_per_gpu": True, "funasr_profile": "offline-gpu", "funasr_version": "0.2.1",
      "funasr_gpus": 4, "funasr_port": 65534}, "funasr_port = 65534 .*beyond 65535"),
    ({"funasr_probe_ports": {10095: 70000}}, "funasr_probe_ports = .*outside 1-65535"),
])
def test_instance_per_gpu_and_probe_port_checks(data, expected):
    with pytest.raises(SettingsError, match=expected):
        check_inventory(make_inventory([("g1", data)]))


def test_allow_from_is_normalised_and_validated():
    settings = load_settings(make_inventory([("h1", {"funasr_allow_from": [
        "192.0.2.7", "10.0.0.0/8", "2001:DB8::/32", "10.0.0.0/8"]})]).get_host("h1"))
    assert settings.funasr_allow_from == ("192.0.2.7/32", "10.0.0.0/8", "2001:db8::/32")
    assert load_settings(make_inventory([("h1", {})]).get_host("h1")).funasr_allow_from == ()


@pytest.mark.parametrize("value, expected", [
    (["10.0.0.1/8"], "entry '10.0.0.1/8' has host bits set; write the network '10.0.0.0/8'"),
    (["office"], "entry 'office' is not an IP address or network; write it like '192.0.2.7'"),
    ([10], "entry 10 is not a string"),
    ("10.0.0.0/8", "must be a list of IP addresses or networks"),
])
def test_bad_allow_lists_name_the_entry_and_the_fix(value, expected):
    message = problems_of(make_inventory([("h1", {"funasr_allow_from": value})]))
    assert "h1: funasr_allow_from = " in message and expected in message


def test_generated_tls_names_hold_host_ssh_and_probe_addresses_and_extras():
    settings = load_settings(make_inventory([("asr-1", {
        "funasr_tls": "generated", "ssh_hostname": "10.0.0.5", "funasr_probe_address": "ASR-1.example.com",
        "funasr_tls_sans": ["asr.example.com", "10.0.0.5"]})]).get_host("asr-1"))
    assert settings.tls_sans == ("asr-1", "10.0.0.5", "asr-1.example.com", "asr.example.com")
    assert settings.instances[0].probe_url == "wss://ASR-1.example.com:10095"


@pytest.mark.parametrize("data, expected", [
    ({"funasr_tls_sans": ["asr.example.com:10095"]}, "funasr_tls_sans = ['asr.example.com:10095'] "
     "(from host h1 in the inventory): entry 'asr.example.com:10095' is not a DNS name or an IP address"),
    ({"funasr_tls": "generated", "funasr_probe_address": "https://asr"},
     "funasr_tls = 'generated' (from host h1 in the inventory): is 'generated', but the host's "
     "funasr_probe_address cannot be a certificate name"),
    ({"funasr_tls": "generated", "funasr_tls_cert": __file__},
     "is 'generated' but funasr_tls_cert or funasr_tls_key is set too; remove them"),
])
def test_generated_tls_checks(data, expected):
    assert expected in problems_of(make_inventory([("h1", data)]))


def test_registry_password_comes_from_a_file_read_at_run_time(tmp_path):
    secret = tmp_path / "registry-password"
    secret.write_text("s3cret-from-file\n")
    secret.chmod(0o600)
    settings = load_settings(make_inventory([("h1", {"funasr_registry_password_file": str(secret),
                                                     "funasr_registry_username": "bot"})]).get_host("h1"))
    assert settings.registry_password == "s3cret-from-file"
    secret.write_text("rotated\n")
    assert settings.registry_password == "rotated"
    assert "rotated" not in repr(settings) and "s3cret" not in repr(settings)
    secret.unlink()
    with pytest.raises(SettingsError, match=r"h1: funasr_registry_password_file: cannot read a password "
                                            r"from .*registry-password on the control node \(No such file"):
        settings.registry_password


def test_registry_password_file_and_env_together_are_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("FUNASR_FLEET_TEST_PASSWORD", "s3cret")
    secret = tmp_path / "registry-password"
    secret.write_text("s3cret-from-file\n")
    message = problems_of(make_inventory([("h1", {"funasr_registry_password_env": "FUNASR_FLEET_TEST_PASSWORD",
                                                  "funasr_registry_password_file": str(secret)})]))
    assert "h1: funasr_registry_password_file = '/" in message
    assert "is set and so is funasr_registry_password_env (FUNASR_FLEET_TEST_PASSWORD); the password " \
           "must have one source: set one of them to ''" in message
    assert "s3cret" not in message


@pytest.mark.parametrize("content, reason", [(None, "Is a directory"), ("\n", "empty"), (b"\xff\xfe", "not UTF-8")])
def test_unreadable_or_empty_password_files_are_refused_without_showing_content(tmp_path, content, reason):
    path = tmp_path / "pw"
    if content is None:
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    message = problems_of(make_inventory([("h1", {"funasr_registry_password_file": str(path)})]))
    assert f"cannot read a password from {path} on the control node ({reason}" in message


@pytest.mark.parametrize("source, allowed, refused", [
    ("198.51.100.9", ["10.0.0.0/8"], True),
    ("10.1.2.3", ["10.0.0.0/8"], False),
    ("127.0.0.1", ["10.0.0.0/8"], False),   # probing over loopback (forwarded ports): cannot tell
    (None, ["10.0.0.0/8"], False),          # no route from here: cannot tell
])
def test_an_allow_list_that_would_block_the_control_nodes_probe_is_refused(monkeypatch, source, allowed,
                                                                          refused):
    import ipaddress

    from funasr_fleet.settings import validation

    monkeypatch.setattr(validation, "probe_source_address",
                        lambda address, port: source and ipaddress.ip_address(source))
    inventory = cpu_inventory(host_data={"funasr_allow_from": allowed})
    if not refused:
        load_settings(inventory.get_host("h1"))
        return
    message = problems_of(inventory)
    assert "h1: funasr_allow_from = ['10.0.0.0/8']" in message
    assert f"would block the health probe: this control node reaches h1 from {source}" in message
    assert f"add '{source}' (or its network) to funasr_allow_from" in message


def test_the_probe_source_address_is_the_routes_source():
    from funasr_fleet.settings import probe_source_address

    assert str(probe_source_address("127.0.0.1", 10095)) == "127.0.0.1"
    assert str(probe_source_address("127.0.0.2", 10095)) == "127.0.0.1"  # the loopback route's source
