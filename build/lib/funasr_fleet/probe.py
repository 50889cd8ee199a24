"""
The health probe: a real FunASR WebSocket client that must get a recognised utterance.

A TCP check proves nothing here: the FunASR servers listen before their models are
loaded (the handshake then hangs) and Docker's published port accepts TCP even when
nothing listens inside the container. So the probe does what a client does: TCP,
WebSocket handshake (ws or wss), the FunASR first message, real speech PCM (a sample
the project makes with espeak-ng, funasr_fleet/data/), end of input, and it waits,
bounded, for the final result. A final reply that carries no text (the 2pass server's
``{"text": "", "is_final": true}`` without a mode, websocket-server-2pass.cpp
do_decoder at FunASR 1819303f5; the offline server's empty ``offline`` result) fails
the probe at once: the server answered and recognised nothing. A server that never
answers (e.g. the 2pass server without its punctuation model) runs into the deadline.
``python -m funasr_fleet probe ws://10.0.0.5:10095`` (funasr_fleet/cli/probe.py) runs it once.
"""

import hashlib
import json
import socket
import ssl
import time
import wave
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from websockets.exceptions import InvalidHandshake, WebSocketException
from websockets.sync.client import connect

DEFAULT_SAMPLE = Path(__file__).resolve().parent / "data" / "probe-zh-16k.wav"
SAMPLE_RATE = 16000
CHUNK_SIZE = [5, 10, 5]
CHUNK_INTERVAL = 10
FINAL_MODES = ("offline", "2pass-offline")


@dataclass(frozen=True)
class TlsPolicy:
    """How a wss probe checks the server certificate.

    + verify: verify against the system CAs (or ``cafile``) and the host name
    + cafile: CA bundle or the server's own certificate to trust
    + pin_sha256: hex sha256 of the server's leaf certificate (DER); when set the chain
      is not verified, the fingerprint is, before any audio is sent

    Self-signed servers: pin the certificate (`certificate_sha256`) rather than
    turning verification off; ``verify=False`` alone accepts any certificate.
    """

    verify: bool = True
    cafile: str | None = None
    pin_sha256: str | None = None


@dataclass
class ProbeResult:
    """What a probe found.

    + ok: the server returned a final result with text
    + stage: where it ended: tcp, handshake, tls-pin, send, result, or done
    + error: why it failed (None when ok)
    + text: the recognised text of the final result
    + latency_s: end of input -> final result
    + elapsed_s: the whole probe
    """

    url: str
    ok: bool = False
    stage: str = "tcp"
    error: str | None = None
    text: str = ""
    latency_s: float | None = None
    elapsed_s: float = 0.0
    messages: list = field(default_factory=list)

    def to_dict(self):
        return asdict(self)


class ProbeFailure(Exception):
    """Raised inside a probe step: ``stage`` and a readable reason."""

    def __init__(self, stage, reason):
        super().__init__(reason)
        self.stage = stage


def read_sample(path=DEFAULT_SAMPLE):
    """PCM bytes of a 16 kHz mono 16-bit WAV file (ValueError for any other format)."""
    with wave.open(str(path), "rb") as sample:
        shape = (sample.getframerate(), sample.getnchannels(), sample.getsampwidth())
        if shape != (SAMPLE_RATE, 1, 2):
            raise ValueError(f"{path}: need 16000 Hz mono 16-bit PCM, got {shape}")
        return sample.readframes(sample.getnframes())


def certificate_sha256(path):
    """Hex sha256 of a PEM certificate's DER form (what `TlsPolicy.pin_sha256` takes)."""
    der = ssl.PEM_cert_to_DER_cert(Path(path).read_text(encoding="ascii"))
    return hashlib.sha256(der).hexdigest()


def first_message(mode):
    """The FunASR session header (text JSON) a client sends before audio."""
    return json.dumps({
        "mode": mode, "chunk_size": CHUNK_SIZE, "chunk_interval": CHUNK_INTERVAL,
        "encoder_chunk_look_back": 4, "decoder_chunk_look_back": 0,
        "wav_name": "funasr-fleet-probe", "wav_format": "pcm", "audio_fs": SAMPLE_RATE,
        "is_speaking": True, "hotwords": "", "itn": True,
    })


def pcm_frames(pcm):
    """Split PCM into the frames the official client sends (60*chunk_size[1]/interval ms)."""
    frame_ms = 60 * CHUNK_SIZE[1] // CHUNK_INTERVAL
    step = SAMPLE_RATE * 2 * frame_ms // 1000
    return [pcm[i:i + step] for i in range(0, len(pcm), step)]


def probe(url, *, mode="2pass", timeout=15.0, connect_timeout=5.0, tls=TlsPolicy(),
          sample=DEFAULT_SAMPLE, realtime=False):
    """Probe a FunASR server once; never raises for server faults, returns `ProbeResult`.

    + url: ``ws://HOST:PORT`` or ``wss://HOST:PORT``
    + mode: ``2pass`` (2pass server) or ``offline`` (offline server)
    + timeout: seconds to wait for the final result after end of input
    + connect_timeout: seconds for TCP connect and for the WebSocket handshake each
    + tls: a `TlsPolicy` for wss
    + sample: 16 kHz mono 16-bit WAV with speech
    + realtime: send the audio at its own pace, as a microphone would (the session then
      lasts as long as the sample), instead of as fast as possible

    **Example:**

    .. code:: python

        result = probe("ws://127.0.0.1:10095")
        if not result.ok:
            print(result.stage, result.error)
    """
    result = ProbeResult(url=url)
    started = time.monotonic()
    try:
        pcm = read_sample(sample)
        scheme, host, port = _parse_url(url)
        sock = _tcp_connect(host, port, connect_timeout)
        result.stage = "handshake"
        with _handshake(sock, url, scheme, host, tls, connect_timeout) as websocket:
            if scheme == "wss" and tls.pin_sha256:
                result.stage = "tls-pin"
                _check_pin(websocket, tls.pin_sha256)
            result.stage = "send"
            _send_utterance(websocket, mode, pcm, realtime)
            ended = time.monotonic()
            result.stage = "result"
            final = _wait_final(websocket, timeout, result.messages)
            result.latency_s = time.monotonic() - ended
        result.text = final.get("text", "")
        if not result.text.strip():
            raise ProbeFailure("result", "answered, recognised nothing: the final reply has no "
                               "text (models that cannot recognise speech, or audio that did "
                               "not reach the recogniser)")
        result.ok, result.stage = True, "done"
    except ProbeFailure as failure:
        result.stage, result.error = failure.stage, str(failure)
    except (OSError, WebSocketException, ValueError) as error:
        result.error = f"{type(error).__name__}: {error}"
    result.elapsed_s = time.monotonic() - started
    return result


def wait_until_healthy(url, *, mode, tls, start_timeout, probe_timeout, interval=2.0):
    """Probe until one probe passes or ``start_timeout`` runs out; return the last result.

    For a server that was just (re)started: during model load its handshake hangs, so
    early probes fail at ``tcp`` or ``handshake`` and are retried.
    """
    deadline = time.monotonic() + start_timeout
    while True:
        remaining = deadline - time.monotonic()
        result = probe(url, mode=mode, timeout=max(1.0, min(probe_timeout, remaining)),
                       connect_timeout=max(1.0, min(5.0, remaining)), tls=tls)
        if result.ok or time.monotonic() + interval >= deadline:
            return result
        time.sleep(interval)


def reaches(url, timeout=5.0):
    """Whether packets from this control node get to the server's port at ``url``: the
    connection is refused or closed, or any byte comes back, within ``timeout`` seconds.

    Not a health check (a stopped server "reaches" too): it tells a firewall that drops
    the probe's packets from a port nothing answers on. A request is sent after the
    connect because a TCP proxy on the way (Docker's userland proxy) accepts the
    connection itself and only then finds the server's port open, refused or silent.
    """
    _, address, port = _parse_url(url)
    try:
        with socket.create_connection((address, port), timeout=timeout) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: funasr-fleet\r\nConnection: close\r\n\r\n")
            sock.recv(1)  # a byte or EOF: something answered
            return True
    except ConnectionError:  # refused or reset: the host answered
        return True
    except OSError:  # connect or read timed out, no route: dropped on the way
        return False


def _parse_url(url):
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.hostname or not parts.port:
        raise ProbeFailure("tcp", f"not a ws://HOST:PORT or wss://HOST:PORT URL: {url!r}")
    return parts.scheme, parts.hostname, parts.port


def _tcp_connect(host, port, timeout):
    try:
        return socket.create_connection((host, port), timeout=timeout)
    except OSError as error:
        raise ProbeFailure("tcp", f"TCP connect to {host}:{port} failed: {error}") from None


def _ssl_context(tls):
    if tls.pin_sha256 or not tls.verify:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    return ssl.create_default_context(cafile=tls.cafile)


def _handshake(sock, url, scheme, host, tls, timeout):
    options = {"ssl": _ssl_context(tls), "server_hostname": host} if scheme == "wss" else {}
    try:
        return connect(url, sock=sock, subprotocols=["binary"], open_timeout=timeout,
                       close_timeout=1, max_size=None, compression=None, **options)
    except TimeoutError:
        sock.close()
        raise ProbeFailure("handshake", f"WebSocket handshake got no answer within {timeout:.1f}s "
                                        "(server still loading models?)") from None
    except ssl.SSLError as error:
        sock.close()
        raise ProbeFailure("handshake", f"TLS handshake failed: {error.reason or error}") from None
    except (InvalidHandshake, OSError) as error:
        sock.close()
        raise ProbeFailure("handshake", f"WebSocket handshake failed: {error}") from None


def _check_pin(websocket, pin):
    der = websocket.socket.getpeercert(binary_form=True)
    actual = hashlib.sha256(der).hexdigest()
    expected = pin.replace(":", "").lower()
    if actual != expected:
        raise ProbeFailure("tls-pin", f"server certificate sha256 {actual} is not the pinned {expected}")


def _send_utterance(websocket, mode, pcm, realtime=False):
    websocket.send(first_message(mode))
    for frame in pcm_frames(pcm):
        websocket.send(frame)
        if realtime:
            time.sleep(len(frame) / (SAMPLE_RATE * 2))
    websocket.send(json.dumps({"is_speaking": False}))


def _wait_final(websocket, timeout, messages):
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        try:
            raw = websocket.recv(timeout=max(0.0, remaining))
        except TimeoutError:
            raise ProbeFailure("result", f"no final result within {timeout:.1f}s after end of "
                                         "input (server recognised nothing?)") from None
        message = json.loads(raw)
        messages.append(message)
        if is_final_reply(message):
            return message


def is_final_reply(message):
    """A reply that ends the utterance (or, for the health probe, a finished sentence):
    ``is_final: true`` (the 2pass server's last reply, with or without a mode), or a
    ``2pass-offline``/``offline`` result (the offline server's only reply has
    ``is_final: false``: websocket-server.cpp:102)."""
    return message.get("is_final") is True or message.get("mode") in FINAL_MODES
