"""
The command lines funasr-fleet renders start on the replica of the real servers
(funasr_fleet/lab/standin), with the models the deploy seeds (the stand-in hub's file
names per repository kind) mounted as compose mounts them: models read-only, the GPU
server's export copy writable. A regression test: a command line that leaves a role out
(as this project rendered before: no --lm-dir) makes the server download the default
ModelScope id into the read-only models mount, find no TLG.fst and exit 255.
"""

import pytest

from funasr_fleet.lab.standin import download_tool
from funasr_fleet.lab.standin.startup import startup
from funasr_fleet.lab.standin_models import standin_repo
from funasr_fleet.render import CONTAINER_EXPORT_DIR, gpu_export, server_command
from funasr_fleet.settings import load_settings
from helpers import make_inventory

GPU_ENV = {"FUNASR_STANDIN_GPU_BUILD": "1", "NVIDIA_VISIBLE_DEVICES": "all",
           "FUNASR_STANDIN_EXPORT_SECONDS": "0"}


def container(tmp_path, settings, monkeypatch):
    """The container's file system under ``tmp_path``: seeded models (read-only, as
    mounted), hotwords, and the GPU export copy (writable). Returns the argv with
    container paths moved under ``tmp_path``."""
    root = tmp_path / "workspace"
    for spec in settings.funasr_models.values():
        directory = root / "models" / spec.dirname
        directory.mkdir(parents=True)
        for name in standin_repo(spec.id, spec.revision, 16):
            (directory / name).parent.mkdir(parents=True, exist_ok=True)
            (directory / name).write_bytes(b"stand-in")
    export = gpu_export(settings)
    if export:  # operations.gpu_export_copied: a copy of the seeded revision
        source = root / "models" / settings.funasr_models["asr"].dirname
        target = root / CONTAINER_EXPORT_DIR.removeprefix("/workspace/")
        target.mkdir(parents=True)
        for path in source.rglob("*"):
            if path.is_file():
                (target / path.relative_to(source)).parent.mkdir(parents=True, exist_ok=True)
                (target / path.relative_to(source)).write_bytes(path.read_bytes())
    (root / "resources").mkdir()
    (root / "resources" / "hotwords.txt").write_text("阿里巴巴 20\n", encoding="utf-8")
    models = str(root / "models")
    # compose mounts the models read-only (render.compose_context); the export copy rw.
    monkeypatch.setattr(download_tool, "_writable",
                        lambda path: not (str(path) == models or str(path).startswith(models + "/")))
    return [str(part).replace("/workspace/", f"{root}/") for part in server_command(settings)]


def settings_for(**data):
    return load_settings(make_inventory([("h1", {"funasr_tls": "off", **data})]).get_host("h1"))


@pytest.mark.parametrize("data, kind, env, hotwords", [
    ({}, "2pass", {}, "lm"),
    ({"funasr_models": {"2pass": {"lm": None, "itn": None}}, "funasr_hotwords": {}}, "2pass", {}, None),
    ({"funasr_profile": "offline", "funasr_version": "0.4.7"}, "offline", {}, "lm"),
    ({"funasr_profile": "offline", "funasr_version": "0.4.7", "funasr_models": {"offline": {"lm": None, "asr": {
        "id": "iic/speech_paraformer-large-contextual_asr_nat-zh-cn-16k-common-vocab8404-onnx",
        "revision": "v2.0.5"}}}}, "offline", {}, "embedding"),
    ({"funasr_profile": "offline-gpu", "funasr_version": "0.2.1"}, "offline", GPU_ENV, "lm"),
    ({"funasr_profile": "offline-gpu", "funasr_version": "0.2.1", "funasr_gpu_bladedisc": False},
     "offline", GPU_ENV, "lm"),
], ids=["2pass", "2pass-lm-itn-off", "offline", "offline-contextual", "offline-gpu", "offline-gpu-torchscript"])
def test_the_rendered_command_starts_on_the_replica(tmp_path, monkeypatch, data, kind, env, hotwords):
    settings = settings_for(**data)
    argv = container(tmp_path, settings, monkeypatch)
    started = startup(kind, argv, env)
    assert started.exit_code is None, "\n".join(str(line) for line in started.lines[-8:])
    assert started.hotword_path == hotwords
    assert "Download model:" not in started.text  # every model is local: nothing is fetched
    export = gpu_export(settings)
    if export:  # the first start exported into the writable copy, the seeded revision is untouched
        assert (tmp_path / "workspace" / "models-export" / export.weights).is_file()
        assert not (tmp_path / "workspace" / "models" / settings.funasr_models["asr"].dirname
                    / export.weights).exists()
        again = startup(kind, argv, env)  # a later start reuses the export
        assert again.exit_code is None and "begin to export" not in again.text


@pytest.mark.parametrize("left_out, message", [
    ("--lm-dir", "/models/damo/speech_ngram_lm_zh-cn-ai-wesp-fst/TLG.fst do not exists."),
    ("--itn-dir", "/models/thuduj12/fst_itn_zh/zh_itn_tagger.fst do not exists."),
])
def test_a_role_left_off_the_command_line_is_downloaded_and_the_server_exits(
        tmp_path, monkeypatch, left_out, message):
    """What this project rendered before every role was explicit: --lm-dir was missing,
    so funasr-wss-server-2pass.cpp:128 defaulted it to a ModelScope id, the download
    into the read-only models mount failed and the TLG.fst check exited (:399-403)."""
    argv = container(tmp_path, settings_for(), monkeypatch)
    index = argv.index(left_out)
    del argv[index:index + 2]
    started = startup("2pass", argv, {})
    assert started.exit_code == 255
    assert message in started.text
