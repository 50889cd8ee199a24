"""Rendering: compose, hotwords and daemon.json from settings; invalid output fails on the control node."""

import json

import pytest
import yaml

from funasr_fleet.deploys import compose_with_digest, docker_repo_sources, service_inputs
from funasr_fleet.errors import DeployError
from funasr_fleet.render import (
    TEMPLATES_DIR,
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
    command = server_command(settings_for())
    options = dict(zip(command[1::2], command[2::2]))
    assert options["--model-dir"] == ("/workspace/models/iic/"
                                      "speech_paraformer-large_asr_nat-zh-cn-16k-common-vocab8404-onnx")
    assert options["--online-model-dir"].startswith("/workspace/models/iic/")
    assert options["--hotword"] == "/workspace/resources/hotwords.txt"
    assert options["--certfile"] == "" and options["--keyfile"] == ""
    assert "--lm-dir" not in options


def test_offline_profile_runs_the_offline_server_with_an_lm():
    lm = {"offline": {"lm": {"id": "iic/speech_ngram_lm_zh-cn-ai-wesp-fst", "revision": "v1.0.2"}}}
    command = server_command(settings_for(funasr_profile="offline", funasr_version="0.4.7",
                                          funasr_models=lm))
    assert command[0] == "./funasr-wss-server"
    assert "--lm-dir" in command and "--online-model-dir" not in command


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
    first, digest1 = compose_with_digest(settings_for(), service_inputs(settings_for(), None)[1])
    changed = settings_for(funasr_hotwords={"小智": 30})
    second, digest2 = compose_with_digest(changed, service_inputs(changed, None)[1])
    assert digest1 != digest2 and first != second
    labels = yaml.safe_load(second)["services"]["funasr"]["labels"]
    assert labels["io.funasr-fleet.config-sha256"] == digest2
    assert compose_with_digest(settings_for(), service_inputs(settings_for(), None)[1])[1] == digest1


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
    assert [i.probe_url for i in settings.instances] == ["ws://10.0.0.9:10095", "ws://10.0.0.9:40001"]


def test_xiaozhi_asr_section_points_at_the_probed_address():
    from funasr_fleet.xiaozhi import asr_config

    config = asr_config(settings_for(funasr_probe_address="asr.example", funasr_probe_ports={10095: 443}))
    assert config == {"selected_module": {"ASR": "FunASRServer"},
                      "ASR": {"FunASRServer": {"type": "fun_server", "host": "asr.example", "port": 443,
                                               "is_ssl": False, "api_key": "none", "output_dir": "tmp/"}}}

