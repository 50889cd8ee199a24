"""
The probe against the lab's FunASR stand-in, run locally on 127.0.0.1: real protocol,
real sockets, no Docker. Also the stand-in's own contract (model check, flags, hotwords).
"""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from funasr_fleet.probe import TlsPolicy, certificate_sha256, probe, wait_until_healthy
from helpers import STANDIN_MODEL_FILES, free_port

STANDIN = Path(__file__).resolve().parents[2] / "funasr_fleet" / "lab" / "standin" / "funasr_standin.py"
# A complete model set as the stand-in checks it: every role, the LM included (--lm-dir
# defaults to a download).
MODEL_FILES = {name: files for name, files in STANDIN_MODEL_FILES.items() if name != "torch"}


@pytest.fixture
def models(tmp_path):
    for name, filenames in MODEL_FILES.items():
        (tmp_path / name).mkdir()
        for filename in filenames:
            (tmp_path / name / filename).write_bytes(b"stand-in")
    (tmp_path / "hotwords.txt").write_text("阿里巴巴 20\n小智 同学 30\n", encoding="utf-8")
    return tmp_path


class Server:
    def __init__(self, process, port, scheme="ws"):
        self.process, self.port = process, port
        self.url = f"{scheme}://127.0.0.1:{port}"

    def log(self):
        self.process.terminate()
        return self.process.communicate(timeout=5)[1]


def start(models, kind="2pass", load="0.2", extra=(), model_args=None, scheme="ws", env=None):
    port = free_port()
    if model_args is None:
        model_args = ["--model-dir", models / "asr", "--vad-dir", models / "vad",
                      "--punc-dir", models / "punc", "--itn-dir", models / "itn",
                      "--lm-dir", models / "lm"]
        if kind == "2pass":
            model_args += ["--online-model-dir", models / "online"]
    command = [sys.executable, STANDIN, "--port", str(port), "--listen-ip", "127.0.0.1",
               "--hotword", models / "hotwords.txt", *model_args, *extra]
    if scheme == "ws":
        command += ["--certfile", "", "--keyfile", ""]
    process = subprocess.Popen([str(part) for part in command], stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "FUNASR_STANDIN_KIND": kind,
                                    "FUNASR_STANDIN_LOAD_SECONDS": load,
                                    "FUNASR_STANDIN_EXPORT_SECONDS": "0", **(env or {})})
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and process.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    return Server(process, port, scheme)


@pytest.fixture
def servers():
    started = []
    yield started
    for server in started:
        if server.process.poll() is None:
            server.process.kill()
            server.process.wait()


def test_healthy_2pass_server_returns_a_final_result(models, servers):
    server = start(models)
    servers.append(server)
    result = wait_until_healthy(server.url, mode="2pass", tls=TlsPolicy(), start_timeout=10,
                                probe_timeout=5, interval=0.2)
    assert result.ok, result
    assert result.stage == "done" and "s of speech" in result.text
    assert any(m["mode"] == "2pass-online" for m in result.messages)
    assert result.latency_s < 2


def test_offline_server_answers_once_with_is_final_false(models, servers):
    server = start(models, kind="offline")
    servers.append(server)
    result = wait_until_healthy(server.url, mode="offline", tls=TlsPolicy(), start_timeout=10,
                                probe_timeout=5, interval=0.2)
    assert result.ok, result
    assert result.messages[-1]["mode"] == "offline" and result.messages[-1]["is_final"] is False


def write_wav(path, samples):
    import array
    import wave

    with wave.open(str(path), "wb") as out:
        out.setnchannels(1), out.setsampwidth(2), out.setframerate(16000)
        out.writeframes(array.array("h", samples).tobytes())


@pytest.mark.parametrize("kind, signal", [("2pass", "silence"), ("2pass", "tone"),
                                          ("offline", "silence"), ("offline", "tone")])
def test_no_speech_gets_an_empty_final_and_the_probe_fails_on_it_long_before_its_timeout(
        models, servers, tmp_path, kind, signal):
    # The real 2pass server answers {"text": "", "is_final": true} without a mode
    # (websocket-server-2pass.cpp@1819303f5:60-98, 201-213); the offline server its one
    # {"mode": "offline", "text": "", "is_final": false} (websocket-server.cpp:130-145).
    # The stand-in replays both; the probe must fail on that reply, not wait out its 20 s.
    import math

    samples = ([0] * 32000 if signal == "silence" else
               [int(8000 * math.sin(2 * math.pi * 440 * i / 16000)) for i in range(32000)])
    write_wav(tmp_path / "x.wav", samples)
    server = start(models, kind=kind, load="0")
    servers.append(server)
    time.sleep(0.3)
    started = time.monotonic()
    result = probe(server.url, mode=kind, timeout=20.0, sample=tmp_path / "x.wav")
    assert time.monotonic() - started < 3
    assert not result.ok and result.stage == "result"
    assert "answered, recognised nothing" in result.error
    final = {"text": "", "wav_name": "funasr-fleet-probe", "is_final": True} if kind == "2pass" else \
        {"text": "", "mode": "offline", "is_final": False}
    assert final.items() <= result.messages[-1].items(), result.messages


def test_handshake_hangs_while_models_load(models, servers):
    server = start(models, load="30")
    servers.append(server)
    result = probe(server.url, connect_timeout=0.5)
    assert not result.ok and result.stage == "handshake"
    assert "handshake got no answer within 0.5s" in result.error


def test_nothing_listening_fails_at_tcp():
    result = probe(f"ws://127.0.0.1:{free_port()}", connect_timeout=0.5)
    assert not result.ok and result.stage == "tcp"


def test_missing_model_file_stops_the_server_with_255(models, servers):
    (models / "vad" / "model_quant.onnx").unlink()
    server = start(models)
    servers.append(server)
    assert server.process.wait(timeout=5) == 255
    assert f"{models / 'vad' / 'model_quant.onnx'} do not exists." in server.process.stderr.read()


def test_model_id_without_local_files_is_not_downloaded_and_fails(models, servers):
    # 2pass: the VAD default is a ModelScope id (the offline server skips an unset --vad-dir)
    server = start(models, model_args=["--download-model-dir", str(models / "dl")], kind="2pass")
    servers.append(server)
    assert server.process.wait(timeout=5) == 255
    log = server.process.stderr.read()
    assert "Download model: damo/speech_fsmn_vad_zh-cn-16k-common-onnx from modelscope" in log


def test_unknown_option_is_a_tclap_parse_error(models, servers):
    # the 2pass server does take --lm-dir (funasr-wss-server-2pass.cpp:128); --gpu it does not
    server = start(models, extra=["--gpu"])
    servers.append(server)
    assert server.process.wait(timeout=5) == 1
    assert "PARSE ERROR: Argument: --gpu" in server.process.stderr.read()


def test_hotwords_are_loaded_once_and_logged(models, servers):
    server = start(models)
    servers.append(server)
    result = wait_until_healthy(server.url, mode="2pass", tls=TlsPolicy(), start_timeout=10,
                                probe_timeout=5, interval=0.2)
    assert "hotwords: 小智 同学, 阿里巴巴" in result.text
    log = server.log()
    assert "util.cpp:1042] 阿里巴巴 : 20" in log and "util.cpp:1042] 小智 同学 : 30" in log
    assert "Successfully load lm file" in log  # hotwords act through the LM's WFST decoder


@pytest.fixture
def certificate(tmp_path):
    cert, key = tmp_path / "server.crt", tmp_path / "server.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", key, "-out", cert], check=True, capture_output=True)
    return cert, key


def test_wss_certificate_checks(models, servers, certificate, tmp_path):
    cert, key = certificate
    server = start(models, scheme="wss", extra=["--certfile", cert, "--keyfile", key])
    servers.append(server)
    healthy = wait_until_healthy(server.url, mode="2pass", tls=TlsPolicy(verify=False),
                                 start_timeout=10, probe_timeout=5, interval=0.2)
    assert healthy.ok, healthy
    default = probe(server.url)
    assert not default.ok and default.stage == "handshake" and "CERTIFICATE_VERIFY_FAILED" in default.error
    assert probe(server.url, tls=TlsPolicy(pin_sha256=certificate_sha256(cert))).ok
    wrong = probe(server.url, tls=TlsPolicy(pin_sha256="00" * 32))
    assert not wrong.ok and wrong.stage == "tls-pin"
    assert probe(server.url, tls=TlsPolicy(cafile=str(cert))).ok


def test_cli_json_and_exit_codes(models, servers):
    server = start(models)
    servers.append(server)
    wait_until_healthy(server.url, mode="2pass", tls=TlsPolicy(), start_timeout=10,
                       probe_timeout=5, interval=0.2)
    ok = subprocess.run([sys.executable, "-m", "funasr_fleet", "probe", server.url, "--json"],
                        capture_output=True, text=True)
    assert ok.returncode == 0 and json.loads(ok.stdout)["ok"] is True
    bad = subprocess.run([sys.executable, "-m", "funasr_fleet", "probe",
                          f"ws://127.0.0.1:{free_port()}", "--connect-timeout", "0.5"],
                         capture_output=True, text=True)
    assert bad.returncode == 1 and "UNHEALTHY" in bad.stderr and "tcp" in bad.stderr
    usage = subprocess.run([sys.executable, "-m", "funasr_fleet", "nope"], capture_output=True, text=True)
    assert usage.returncode == 2


def test_status_table_shows_running_and_wanted_versions():
    from funasr_fleet.fleet import format_table

    row = {"host": "h1", "groups": ["cpu", "prod"], "instance": "funasr", "profile": "2pass",
           "version": "0.1.12", "wanted_version": "0.1.13", "models": ["a@1", "b@1"],
           "url": "ws://h1:10095", "healthy": False, "latency_s": None, "error": "handshake: timed out"}
    table = format_table([row, dict(row, host="h2", version="0.1.13", healthy=True, latency_s=0.05)])
    lines = table.splitlines()
    assert lines[0].split() == ["HOST", "GROUP", "INSTANCE", "PROFILE", "VERSION", "MODELS", "URL",
                                "HEALTH", "LATENCY"]
    assert "0.1.12 (data: 0.1.13)" in lines[1] and "UNHEALTHY (handshake: timed out)" in lines[1]
    assert "0.1.13 (data" not in lines[2] and lines[2].rstrip().endswith("healthy  0.05s")


def test_wss_with_a_generated_certificate_is_verified_against_the_fleet_ca(models, servers, tmp_path):
    from funasr_fleet import tls

    fleet_ca = TlsPolicy(cafile=str(tls.ca_files(tmp_path).cert))
    results = {}
    for host, names in (("right", ["right", "127.0.0.1"]), ("wrong", ["wrong", "192.0.2.1"])):
        files = tls.host_certificate(tmp_path, host, names).files
        server = start(models, scheme="wss", extra=["--certfile", files.cert, "--keyfile", files.key])
        servers.append(server)
        assert wait_until_healthy(server.url, mode="2pass", tls=TlsPolicy(verify=False), start_timeout=10,
                                  probe_timeout=5, interval=0.2).ok
        results[host] = probe(server.url, tls=fleet_ca)
    assert results["right"].ok, results["right"]  # the probe connects to 127.0.0.1, a name it holds
    wrong = results["wrong"]  # signed by the fleet CA, but for another address: refused
    assert not wrong.ok and wrong.stage == "handshake" and "CERTIFICATE_VERIFY_FAILED" in wrong.error
    assert not probe(servers[0].url).ok  # the system CAs do not know the fleet CA


@pytest.mark.parametrize("behaviour, reached", [
    ("answers", True),      # the server (or anything) replies to the request
    ("closes", True),       # a proxy whose server port is refused closes the connection
    ("refused", True),      # nothing listens: the host answered with a reset
    ("silent", False),      # a proxy whose packets to the server are dropped: no reply at all
])
def test_reaches_tells_a_dropped_port_from_a_closed_or_answering_one(behaviour, reached):
    import threading

    from funasr_fleet.probe import reaches

    port, accepted = free_port(), []
    listener = None
    if behaviour != "refused":
        listener = socket.create_server(("127.0.0.1", port))

        def serve():
            connection, _ = listener.accept()
            accepted.append(connection)
            connection.recv(1024)
            if behaviour == "answers":
                connection.sendall(b"HTTP/1.1 426 Upgrade Required\r\n\r\n")
            elif behaviour == "closes":
                connection.close()
        threading.Thread(target=serve, daemon=True).start()
    try:
        assert reaches(f"ws://127.0.0.1:{port}", timeout=1.0) is reached
    finally:
        for item in accepted + ([listener] if listener else []):
            item.close()
