"""
The ASR section of xiaozhi-esp32-server's ``data/.config.yaml`` for a fleet host, which
``python -m funasr_fleet xiaozhi-config`` prints (funasr_fleet/cli/xiaozhi.py).

xiaozhi-esp32-server's ``fun_server`` ASR provider speaks FunASR's WebSocket protocol; it
needs the host, port and whether to use TLS. The address is the one the control node
probes (``funasr_probe_address``/``funasr_probe_ports``, else the SSH host and the port).

Only a 2pass server (or a balancer in front of 2pass servers) suits it: the provider
(core/providers/asr/fun_server.py) sends the whole utterance with mode "offline" and
reads replies until one has ``is_final`` true, 5 s per receive. The 2pass server ends
with ``is_final: true``; the offline servers' only reply has ``is_final: false``
(websocket-server.cpp:102), so every utterance would stall 5 s (xiaozhi-esp32-server
issue #1694). The command refuses such a target unless ``--force``.
"""

from urllib.parse import urlsplit

PROVIDER = "FunASRServer"


def asr_config(settings, instance=None):
    """The ``selected_module``/``ASR`` dict pointing xiaozhi at one server instance.

    + settings: the host's `Settings`
    + instance: one of ``settings.instances`` (default: the first)
    """
    url = urlsplit((instance or settings.instances[0]).probe_url)
    return {
        "selected_module": {"ASR": PROVIDER},
        "ASR": {PROVIDER: {"type": "fun_server", "host": url.hostname, "port": url.port,
                           "is_ssl": url.scheme == "wss", "api_key": "none", "output_dir": "tmp/"}},
    }
