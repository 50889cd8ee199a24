"""
A replica of xiaozhi-esp32-server's FunASR client, for lab tests: it talks to a FunASR
server exactly as that project's ``fun_server`` ASR provider does
(xinnan-tech/xiaozhi-esp32-server, main/xiaozhi-server/core/providers/asr/fun_server.py,
read at commit 2a2b122e):

- ``websockets.connect(uri, additional_headers={"Authorization": "Bearer; <api_key>"},
  subprotocols=["binary"], ping_interval=None, ssl=...)`` (speech_to_text);
- the first message ``{"mode": "offline", "chunk_size": [5, 10, 5], "chunk_interval": 10,
  "wav_name": <session id>, "is_speaking": true, "itn": false}``, then the whole
  utterance as ONE binary frame, then ``{"is_speaking": false}`` (_send_data);
- replies are read with a 5 s timeout per receive; the text of each is appended, and
  the loop ends at the first reply whose ``is_final`` is true (a reply without the key
  counts as final: ``response_data.get("is_final", True)``), or at a timeout, which the
  provider logs and then returns what it has (_receive_responses).

Not xiaozhi's code: a re-implementation of that exchange, so a test proves what a
voice assistant pointed at ``xiaozhi-config``'s target would get.
"""

import asyncio
import json
import ssl
import time
from dataclasses import dataclass

import websockets

RECEIVE_TIMEOUT = 5.0  # fun_server.py: asyncio.wait_for(ws.recv(), timeout=5)


@dataclass
class Utterance:
    """What the provider got: the text, whether a receive timed out, and how long it took."""

    text: str
    timed_out: bool
    seconds: float


async def _recognise(uri, pcm, session_id, api_key, is_ssl):
    context = None
    if is_ssl:  # fun_server.py: an unverified context (check_hostname False, CERT_NONE)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    started = time.monotonic()
    async with websockets.connect(uri, additional_headers={"Authorization": f"Bearer; {api_key}"},
                                  subprotocols=["binary"], ping_interval=None, ssl=context) as ws:
        await ws.send(json.dumps({"mode": "offline", "chunk_size": [5, 10, 5], "chunk_interval": 10,
                                  "wav_name": session_id, "is_speaking": True, "itn": False}))
        await ws.send(pcm)
        await ws.send(json.dumps({"is_speaking": False}))
        text, timed_out = "", False
        while True:
            try:
                response = json.loads(await asyncio.wait_for(ws.recv(), timeout=RECEIVE_TIMEOUT))
            except asyncio.TimeoutError:
                timed_out = True
                break
            text += response.get("text", "")
            if response.get("is_final", True):
                break
    return Utterance(text=text, timed_out=timed_out, seconds=time.monotonic() - started)


def recognise(host, port, pcm, is_ssl=False, session_id="funasr-fleet-lab", api_key="none"):
    """Send one utterance (16 kHz mono 16-bit PCM bytes) as xiaozhi's provider does.

    **Example:**

    .. code:: python

        recognise("127.0.0.1", 10095, read_sample()).text
    """
    uri = f"{'wss' if is_ssl else 'ws'}://{host}:{port}"
    return asyncio.run(_recognise(uri, pcm, session_id, api_key, is_ssl))
