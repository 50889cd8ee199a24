"""Rendering: compose, hotwords and daemon.json from settings; invalid output fails on the control node."""

import json
from pathlib import Path

import pytest
import yaml

from funasr_fleet.deploys.docker import docker_repo_sources
from funasr_fleet.deploys.service import compose_with_digest, service_inputs
from funasr_fleet.errors import DeployError
from funasr_fleet.render import (
    TEMPLATES_DIR,
    gpu_export,
    render_compose,
    render_daemon_json,
    render_hotwords,
    server_command,
)
from funasr_fleet.settings import load_settings
from helpers import make_inventory


def settings_for(**data):
    return load_settings(make_inventory([("h1", data)]).get_host("h1"))


def compose_of(**data):
    settings = settings_for(**data)
    return yaml.safe_load(render_compose(settings, {"hotwords": "0" * 64}))["services"]["funasr"]


def test_compose_runs_the_2pass_server_in_the_foreground_without_privileges():
    service = compose_of()
    assert service["command"][0] == "./funasr-wss-server-2pass"
    assert service["working_dir"] == "/workspace/FunASR/runtime/websocket/build/bin"
    assert "privileged" not in service and service["cap_drop"] == ["ALL"]
    assert service["restart"] == "unless-stopped"
    assert service["ports"] == ["0.0.0.0:10095:10095"]
    assert "/opt/funasr/models:/workspace/models:ro" in service["volumes"]
    assert service["mem_limit"] == "6g"
    assert service["logging"]["options"] == {"max-size": "20m", "max-file": "5"}


def test_command_points_every_model_at_a_seeded_local_path_and_plain_ws():
    command = server_command(settings_for(funasr_tls="off"))
    options = dict(zip(command[1::2], command[2::2]))
    assert options["--model-dir"] == ("/workspace/models/iic/"
                                      "speech_paraformer-large_asr_nat-zh-cn-16k-common-vocab8404-onnx@v2.0.5")
    assert options["--online-model-dir"].startswith("/workspace/models/iic/")
    assert options["--lm-dir"] == "/workspace/models/iic/speech_ngram_lm_zh-cn-ai-wesp-fst@v1.0.2"
    assert options["--hotword"] == "/workspace/resources/hotwords.txt"
    assert options["--certfile"] == "" and options["--keyfile"] == ""
    assert "--gpu" not in command


# Every role the server knows is on its command line: the servers' defaults are
# ModelScope ids (funasr-wss-server-2pass.cpp:45-129, funasr-wss-server.cpp:90-120), so a
# role left out is downloaded at start, which fails offline or into read-only models.
@pytest.mark.parametrize("profile, version, off, expected", [
    ("2pass", "0.1.13", {"lm": None, "itn": None},
     {"--vad-dir", "--model-dir", "--online-model-dir", "--punc-dir", "--itn-dir", "--lm-dir"}),
    ("offline", "0.4.7", {"lm": None},
     {"--vad-dir", "--model-dir", "--punc-dir", "--itn-dir", "--lm-dir"}),
])
def test_every_role_is_explicit_and_roles_that_are_off_are_empty(profile, version, off, expected):
    command = server_command(settings_for(funasr_profile=profile, funasr_version=version,
                                          funasr_models={profile: off}))
    options = dict(zip(command[1::2], command[2::2]))
    assert expected <= set(options)
    for role in off:
        option = "--lm-dir" if role == "lm" else "--itn-dir"
        assert options[option] == ""


def test_offline_profile_runs_the_offline_server_with_an_lm():
    command = server_command(settings_for(funasr_profile="offline", funasr_version="0.4.7"))
    assert command[0] == "./funasr-wss-server"
    options = dict(zip(command[1::2], command[2::2]))
    assert options["--lm-dir"].endswith("speech_ngram_lm_zh-cn-ai-wesp-fst@v1.0.2")
    assert "--online-model-dir" not in command


def test_gpu_server_gets_gpu_flags_and_a_writable_export_copy_of_its_asr_model():
    settings = settings_for(funasr_profile="offline-gpu", funasr_version="0.2.1", funasr_tls="off",
                            funasr_gpu_bladedisc=False, funasr_gpu_batch_size=8)
    command = server_command(settings)
    assert "--gpu" in command
    options = dict(zip(command[command.index("--gpu") + 1::2], command[command.index("--gpu") + 2::2]))
    assert options["--bladedisc"] == "false" and options["--batch-size"] == "8"
    assert command[command.index("--model-dir") + 1] == "/workspace/models-export"
    export = gpu_export(settings)
    assert export.weights == "model.torchscript"
    assert export.source.startswith("/opt/funasr/models/iic/") and export.source.endswith("-pytorch@v2.0.5")
    assert export.key.startswith("iic/speech_paraformer-large-vad-punc_asr_nat-zh-cn-16k-common-vocab8404"
                                 "-pytorch@v2.0.5+torchscript-")
    service = yaml.safe_load(render_compose(settings, {"hotwords": "0" * 64}))["services"]["funasr"]
    assert f"{export.directory}:/workspace/models-export:rw" in service["volumes"]
    assert "/opt/funasr/models:/workspace/models:ro" in service["volumes"]
    # A new image, or --bladedisc, gets its own copy (and export); the same inputs the same.
    assert gpu_export(settings_for(funasr_profile="offline-gpu", funasr_version="0.2.0",
                                   funasr_gpu_bladedisc=False)).key != export.key
    assert gpu_export(settings_for(funasr_profile="offline-gpu", funasr_version="0.2.1")).key != export.key
    assert gpu_export(settings_for(funasr_profile="offline-gpu", funasr_version="0.2.1",
                                   funasr_gpu_bladedisc=False)).key == export.key
    assert gpu_export(settings_for()) is None


def test_container_runs_an_init_unless_switched_off():
    assert compose_of()["init"] is True
    assert "init" not in compose_of(funasr_container_init=False)


def test_tls_files_mount_ssl_and_pass_cert(tmp_path):
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    cert.write_text("cert"), key.write_text("key")
    service = compose_of(funasr_tls="files", funasr_tls_cert=str(cert), funasr_tls_key=str(key))
    assert "/opt/funasr/ssl:/workspace/ssl:ro" in service["volumes"]
    assert service["command"][-4:] == ["--certfile", "/workspace/ssl/server.crt",
                                       "--keyfile", "/workspace/ssl/server.key"]


def test_bind_address_and_limits():
    service = compose_of(funasr_bind_address="::1", funasr_port=11000, funasr_cpus=1.5)
    assert service["ports"] == ["[::1]:11000:10095"]
    assert service["cpus"] == 1.5


def test_hotwords_file_is_sorted_word_weight_lines():
    text = render_hotwords(settings_for(funasr_hotwords={"阿里巴巴": 20, "小智 同学": 30}))
    assert text == "小智 同学 30\n阿里巴巴 20\n"
    assert render_hotwords(settings_for()) == ""


def test_a_hotword_change_changes_compose_and_its_config_digest():
    plain = settings_for(funasr_tls="off")
    first, digest1 = compose_with_digest(plain, service_inputs(plain, None)[1])
    changed = settings_for(funasr_tls="off", funasr_hotwords={"小智": 30})
    second, digest2 = compose_with_digest(changed, service_inputs(changed, None)[1])
    assert digest1 != digest2 and first != second
    labels = yaml.safe_load(second)["services"]["funasr"]["labels"]
    assert labels["io.funasr-fleet.config-sha256"] == digest2
    assert compose_with_digest(plain, service_inputs(plain, None)[1])[1] == digest1


def test_daemon_json_has_log_rotation_data_root_and_mirrors():
    daemon = json.loads(render_daemon_json(settings_for(
        docker_data_root="/data/docker", docker_registry_mirrors=["https://mirror.example"])))
    assert daemon["log-opts"] == {"max-size": "20m", "max-file": "5"}
    assert daemon["data-root"] == "/data/docker"
    assert daemon["registry-mirrors"] == ["https://mirror.example"]


def test_template_rendering_invalid_yaml_fails_on_the_control_node(tmp_path):
    (tmp_path / "compose.yaml.j2").write_text("services: [ {{ image }}\n")
    with pytest.raises(DeployError, match="rendered invalid YAML for h1"):
        render_compose(settings_for(), {}, templates_dir=tmp_path)


def test_template_with_an_undefined_name_fails_naming_the_template(tmp_path):
    (tmp_path / "daemon.json.j2").write_text("{{ nonsense }}")
    with pytest.raises(DeployError, match="daemon.json.j2 failed to render"):
        render_daemon_json(settings_for(), templates_dir=tmp_path)


def test_docker_repo_sources_are_signed_by_the_checked_keyring():
    text = docker_repo_sources(settings_for(docker_source="docker-repo",
                                            docker_repo_url="http://mirror.example/docker"),
                               "debian", "trixie")
    assert "URIs: http://mirror.example/docker/debian\nSuites: trixie\n" in text
    assert "Signed-By: /etc/apt/keyrings/docker.asc" in text


def test_templates_dir_is_the_repository_templates():
    assert {p.name for p in TEMPLATES_DIR.iterdir()} >= {"compose.yaml.j2", "hotwords.txt.j2",
                                                         "daemon.json.j2"}


GPU = {"funasr_profile": "offline-gpu", "funasr_version": "0.2.1"}


def test_gpu_profile_runs_the_gpu_image_with_device_reservations():
    service = compose_of(**GPU)
    assert service["image"].endswith(":funasr-runtime-sdk-gpu-0.2.1")
    assert service["command"][0] == "./funasr-wss-server"
    assert service["deploy"]["resources"]["reservations"]["devices"] == [
        {"driver": "nvidia", "capabilities": ["gpu"], "count": "all"}]
    pinned = compose_of(**GPU, funasr_gpus=["1", "GPU-1111aaaa-22bb"])
    assert pinned["deploy"]["resources"]["reservations"]["devices"][0]["device_ids"] == [
        "1", "GPU-1111aaaa-22bb"]
    assert compose_of(**GPU, funasr_gpus=2)["deploy"]["resources"]["reservations"]["devices"][0][
        "count"] == 2


def test_cpu_profiles_get_no_gpu_reservation_and_no_nvidia_runtime():
    for profile in ({}, {"funasr_profile": "offline", "funasr_version": "0.4.7"}):
        assert "deploy" not in compose_of(**profile)
        assert "runtimes" not in json.loads(render_daemon_json(settings_for(**profile)))


def test_gpu_daemon_json_owns_the_nvidia_runtime():
    daemon = json.loads(render_daemon_json(settings_for(**GPU)))
    assert daemon["runtimes"] == {"nvidia": {"path": "nvidia-container-runtime", "args": []}}
    assert "default-runtime" not in daemon  # GPUs only where compose reserves them


def test_one_instance_per_gpu_each_pinned_to_its_gpu_on_its_own_port():
    settings = settings_for(**GPU, funasr_gpus=["0", "GPU-5a1ab000-0000"], funasr_instance_per_gpu=True,
                            funasr_probe_ports={10096: 40001}, funasr_probe_address="10.0.0.9")
    services = yaml.safe_load(render_compose(settings, {"hotwords": "0" * 64}))["services"]
    assert sorted(services) == ["funasr-gpu-5a1ab000-0000", "funasr-gpu0"]
    first, second = services["funasr-gpu0"], services["funasr-gpu-5a1ab000-0000"]
    assert first["ports"] == ["0.0.0.0:10095:10095"] and second["ports"] == ["0.0.0.0:10096:10095"]
    assert first["deploy"]["resources"]["reservations"]["devices"][0]["device_ids"] == ["0"]
    assert second["deploy"]["resources"]["reservations"]["devices"][0]["device_ids"] == ["GPU-5a1ab000-0000"]
    assert [i.probe_url for i in settings.instances] == ["wss://10.0.0.9:10095", "wss://10.0.0.9:40001"]


def test_xiaozhi_asr_section_points_at_the_probed_address():
    from funasr_fleet.xiaozhi import asr_config

    config = asr_config(settings_for(funasr_probe_address="asr.example", funasr_probe_ports={10095: 443}))
    assert config == {"selected_module": {"ASR": "FunASRServer"},
                      "ASR": {"FunASRServer": {"type": "fun_server", "host": "asr.example", "port": 443,
                                               "is_ssl": True, "api_key": "none", "output_dir": "tmp/"}}}
    plain = asr_config(settings_for(funasr_tls="off"))  # plain ws only when chosen
    assert plain["ASR"]["FunASRServer"]["is_ssl"] is False


@pytest.mark.parametrize("host, forced, status", [
    ("asr-cpu-1.example.internal", False, 0),   # 2pass: ends with is_final true
    ("asr-gpu-1.example.internal", False, 2),   # offline-gpu: never sends is_final true
    ("asr-gpu-1.example.internal", True, 0),
])
def test_xiaozhi_config_refuses_an_offline_target_unless_forced(host, forced, status):
    import subprocess
    import sys

    # A subprocess: the CLI imports pyinfra_cli, which patches the process with gevent.
    run = subprocess.run([sys.executable, "-m", "funasr_fleet", "xiaozhi-config", "inventory/prod.py",
                          "--host", host, *(["--force"] if forced else [])],
                         cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == status, run.stderr
    if status:
        assert "never sends is_final: true" in run.stderr and "--force" in run.stderr
    else:
        assert "type: fun_server" in run.stdout


def firewall_of(**data):
    from funasr_fleet.digest import rendered_with_digest
    from funasr_fleet.render import render_firewall

    settings = settings_for(**data)
    return rendered_with_digest(lambda digest: render_firewall(settings, digest))


def statements(text):
    return [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]


def test_firewall_replaces_only_its_own_table_and_carries_its_digest():
    from funasr_fleet.digest import sha256_text
    from funasr_fleet.render import render_firewall

    text, digest = firewall_of(funasr_allow_from=["10.0.0.0/8"])
    lines = statements(text)
    assert lines[:3] == ["table inet funasr_fleet {}", "delete table inet funasr_fleet",
                         "table inet funasr_fleet {"]
    assert f'comment "funasr-fleet config-sha256 {digest}"' in lines
    assert digest == sha256_text(render_firewall(settings_for(funasr_allow_from=["10.0.0.0/8"])))
    code = "\n".join(lines)
    assert "flush" not in code and code.count("table ") == code.count("table inet funasr_fleet") == 3
    assert firewall_of(funasr_allow_from=["10.0.0.0/8"]) == (text, digest)  # stable: no change on re-run
    assert firewall_of(funasr_allow_from=["10.0.0.0/16"])[1] != digest


def test_firewall_filters_every_published_port_in_forward_and_input_by_family():
    text, _ = firewall_of(funasr_profile="offline-gpu", funasr_version="0.2.1", funasr_gpus=2,
                          funasr_instance_per_gpu=True,
                          funasr_allow_from=["10.0.0.0/8", "10.1.0.0/16", "192.0.2.7", "2001:db8::/32"])
    lines = statements(text)
    assert "elements = { 10095, 10096 }" in lines  # every instance's host port
    assert "elements = { 10.0.0.0/8, 192.0.2.7/32 }" in lines  # collapsed: no overlapping intervals
    assert "elements = { 2001:db8::/32 }" in lines
    forward = lines[lines.index("chain forward {"):lines.index("chain input {")]
    assert "type filter hook forward priority filter - 10; policy accept;" in forward
    assert 'iif "lo" accept' in forward
    for family, address_set in (("ip", "allowed_v4"), ("ip6", "allowed_v6")):
        assert (f"ct direction original ct status dnat meta l4proto tcp ct original proto-dst "
                f"@service_ports {family} saddr != @{address_set} drop") in forward
        assert f"tcp dport @service_ports {family} saddr != @{address_set} drop" in lines
    input_chain = lines[lines.index("chain input {"):]
    assert input_chain[1:3] == ["type filter hook input priority filter - 10; policy accept;", 'iif "lo" accept']


def test_firewall_with_one_family_leaves_the_other_set_empty_so_it_is_dropped():
    lines = statements(firewall_of(funasr_allow_from=["192.0.2.0/24"])[0])
    v6 = lines[lines.index("set allowed_v6 {"):]
    assert v6[1:4] == ["type ipv6_addr", "flags interval", "}"]  # no elements: every IPv6 source drops


def test_a_firewall_template_that_would_touch_other_tables_fails_on_the_control_node(tmp_path):
    from funasr_fleet.render import render_firewall

    (tmp_path / "firewall.nft.j2").write_text("flush ruleset\ntable {{ table }} {\n}\n")
    with pytest.raises(DeployError, match="must start with 'table inet funasr_fleet {}' and 'delete table"):
        render_firewall(settings_for(funasr_allow_from=["10.0.0.0/8"]), templates_dir=tmp_path)


def test_firewall_unit_loads_the_ruleset_at_boot_before_docker():
    from funasr_fleet.render import render_firewall_unit

    unit = statements(render_firewall_unit("/etc/funasr-fleet/firewall.nft"))
    assert "ExecStart=/usr/sbin/nft -f /etc/funasr-fleet/firewall.nft" in unit
    assert "Type=oneshot" in unit and "RemainAfterExit=yes" in unit and "WantedBy=multi-user.target" in unit
    assert "Before=network-pre.target shutdown.target docker.service" in unit
    assert not any(line.startswith("ExecStop") for line in unit)  # a stop never opens the port
