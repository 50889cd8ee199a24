#!/usr/bin/env python3
"""
funasr-fleet's STAND-IN for the FunASR runtime servers. It is not FunASR and recognises
nothing: it exists because the real images and models cannot be fetched where the lab
runs. It reproduces what a deploy and a health probe depend on:

- the real servers' command lines (funasr-wss-server-2pass, funasr-wss-server), with
  unknown options refused as TCLAP refuses them (e.g. --lm-dir on the 2pass server);
- the model check: a model option naming an existing directory is used as is, anything
  else is "downloaded" into --download-model-dir (the stand-in never touches the network,
  so that fails) and then model_quant.onnx (model.onnx without quantisation) must exist,
  or the server exits 255, as the real one does;
- listen() before the models are "loaded" (FUNASR_STANDIN_LOAD_SECONDS): TCP connects,
  the WebSocket handshake hangs until the load is done;
- the hotword file read once at start, each hotword logged;
- ws, or wss with --certfile/--keyfile;
- the protocol: JSON header, binary PCM, {"is_speaking": false}; partials and a final
  2pass-offline result from the 2pass server, one "offline" result (is_final false) from
  the offline server; and NOTHING for audio without speech.

Its kind comes from the name it is run as, or FUNASR_STANDIN_KIND=2pass|offline.
FUNASR_STANDIN_FAIL=1 makes it accept connections but never answer (a broken release).
FUNASR_STANDIN_REQUIRE_GPU=1 (the GPU tag's build) refuses to start without GPUs reserved.
Runs on Debian's python3 with python3-websockets (>= 13), nothing else.
"""

import array
import asyncio
import datetime
import json
import math
import os
import signal
import socket
import ssl
import sys

from websockets.asyncio.server import serve

# Model options in the order the real servers check them.
MODEL_OPTIONS_2PASS = ("vad-dir", "model-dir", "online-model-dir", "punc-dir", "itn-dir")
MODEL_OPTIONS_OFFLINE = ("vad-dir", "model-dir", "punc-dir", "itn-dir", "lm-dir")
DEFAULTS = {
    "download-model-dir": "/workspace/models",
    "model-dir": "damo/speech_paraformer-large_asr_nat-zh-cn-16k-common-vocab8404-onnx",
    "online-model-dir": "damo/speech_paraformer-large_asr_nat-zh-cn-16k-common-vocab8404-online-onnx",
    "vad-dir": "damo/speech_fsmn_vad_zh-cn-16k-common-onnx",
    "punc-dir": "damo/punc_ct-transformer_zh-cn-common-vad_realtime-vocab272727-onnx",
    "itn-dir": "thuduj12/fst_itn_zh",
    "lm-dir": "",
    "quantize": "true", "vad-quant": "true", "punc-quant": "true",
    "listen-ip": "0.0.0.0", "port": "10095",
    "io-thread-num": "8", "decoder-thread-num": "8", "model-thread-num": "4",
    "certfile": "../../../ssl_key/server.crt", "keyfile": "../../../ssl_key/server.key",
    "hotword": "/workspace/resources/hotwords.txt", "fst-inc-wts": "20",
    "offline-model-revision": "v1.2.1", "online-model-revision": "v1.0.6",
    "vad-revision": "v1.2.0", "punc-revision": "v1.0.2", "itn-revision": "v1.0.1",
    "model-revision": "v1.2.1", "lm-revision": "v1.0.2",
    "global-beam": "3.0", "lattice-beam": "3.0", "am-scale": "10.0",
}
OPTIONS_2PASS = set(MODEL_OPTIONS_2PASS) | {
    "download-model-dir", "offline-model-revision", "online-model-revision", "quantize",
    "vad-revision", "vad-quant", "punc-revision", "punc-quant", "itn-revision", "listen-ip",
    "port", "io-thread-num", "decoder-thread-num", "model-thread-num", "certfile", "keyfile",
    "hotword", "fst-inc-wts"}
OPTIONS_OFFLINE = (OPTIONS_2PASS - {"online-model-dir", "online-model-revision",
                                    "offline-model-revision"}) | {
    "lm-dir", "lm-revision", "model-revision", "global-beam", "lattice-beam", "am-scale"}
QUANT_OPTION = {"model-dir": "quantize", "online-model-dir": "quantize",
                "vad-dir": "vad-quant", "punc-dir": "punc-quant"}
REQUIRED_FILES = {"itn-dir": ("zh_itn_tagger.fst", "zh_itn_verbalizer.fst"), "lm-dir": ("TLG.fst",)}

FRAME_SAMPLES = 160  # 10 ms at 16 kHz
VOICED_RMS = 200.0
MIN_VOICED_FRAMES = 30  # 300 ms


# --------------------------------------------------------------------------- logging

def log(level, message):
    """glog-like line on stderr (docker logs shows it)."""
    now = datetime.datetime.now()
    print(f"{level}{now:%m%d %H:%M:%S.%f} {os.getpid():>5} funasr_standin.py] {message}",
          file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- command line

def server_kind(argv0):
    """'2pass' or 'offline', from FUNASR_STANDIN_KIND or the name the script runs as."""
    kind = os.environ.get("FUNASR_STANDIN_KIND")
    if kind:
        return kind
    return "2pass" if os.path.basename(argv0).endswith("2pass") else "offline"


def parse_options(args, allowed):
    """TCLAP-like parsing of ``--name value`` / ``--name=value``; SystemExit(1) on errors."""
    options = {name: DEFAULTS[name] for name in allowed}
    index = 0
    while index < len(args):
        arg = args[index]
        name, _, value = arg[2:].partition("=") if arg.startswith("--") else ("", "", "")
        if name not in allowed:
            print(f"PARSE ERROR: Argument: {arg}\n             Couldn't find match for argument",
                  file=sys.stderr)
            raise SystemExit(1)
        if "=" not in arg:
            if index + 1 >= len(args):
                print(f"PARSE ERROR: Argument: {arg}\n             Missing a value for this argument",
                      file=sys.stderr)
                raise SystemExit(1)
            index += 1
            value = args[index]
        options[name] = value
        index += 1
    return options


# --------------------------------------------------------------------------- models

def resolve_model(option, path, options):
    """Local dir if it exists, else the download dir path; exit 255 if its files are missing."""
    if os.path.exists(path):
        directory = path
    else:
        log("I", f"Download model: {path} from modelscope: ")
        log("I", "Failed to download model from modelscope. If you set local model path, "
                 "you can ignore the errors. (funasr-fleet stand-in: no network access)")
        directory = os.path.join(options["download-model-dir"], path)
    quantised = options.get(QUANT_OPTION.get(option, ""), "true") not in ("false", "False", "FALSE")
    required = REQUIRED_FILES.get(option, ("model_quant.onnx" if quantised else "model.onnx",))
    for name in required:
        required_path = os.path.join(directory, name)
        if not os.path.exists(required_path):
            log("E", f"{required_path} do not exists.")
            raise SystemExit(255)
    log("I", f"Set {option} : {directory}")
    return directory


def check_models(kind, options):
    names = MODEL_OPTIONS_2PASS if kind == "2pass" else MODEL_OPTIONS_OFFLINE
    for option in names:
        if options.get(option):
            resolve_model(option, options[option], options)


# --------------------------------------------------------------------------- hotwords

def load_hotwords(path):
    """Read ``phrase weight`` lines once, as the server does at start; log each."""
    hotwords = {}
    try:
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except OSError as error:
        log("W", f"hotword file {path} not loaded: {error}")
        return hotwords
    for line in lines:
        phrase, _, weight = line.strip().rpartition(" ")
        if phrase and weight.lstrip("-").isdigit():
            hotwords[phrase] = int(weight)
            log("I", f"hotword: {phrase} {weight}")
    log("I", f"loaded {len(hotwords)} hotwords from {path}")
    return hotwords


# --------------------------------------------------------------------------- "recognition"

def frame_features(pcm):
    """(rms, zero-crossing rate) per 10 ms frame of 16-bit little-endian PCM."""
    samples = array.array("h")
    samples.frombytes(pcm[: len(pcm) - len(pcm) % 2])
    if sys.byteorder == "big":
        samples.byteswap()
    features = []
    for start in range(0, len(samples) - FRAME_SAMPLES + 1, FRAME_SAMPLES):
        frame = samples[start:start + FRAME_SAMPLES]
        rms = math.sqrt(sum(value * value for value in frame) / FRAME_SAMPLES)
        crossings = sum(1 for a, b in zip(frame, frame[1:]) if (a < 0) != (b < 0))
        features.append((rms, crossings / FRAME_SAMPLES))
    return features


def _spread(values):
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / len(values)) / (mean or 1.0)


def speech_seconds(features):
    """Seconds of speech-like audio: loud frames whose loudness and pitch vary.

    Silence fails the loudness test; a steady tone or steady noise fails the variation
    test (speech's frame energy and zero-crossing rate move a lot; a tone's do not).
    """
    voiced = [(rms, zcr) for rms, zcr in features if rms >= VOICED_RMS]
    if len(voiced) < MIN_VOICED_FRAMES:
        return 0.0
    if _spread([rms for rms, _ in features]) < 0.3 or _spread([zcr for _, zcr in voiced]) < 0.15:
        return 0.0
    return len(voiced) * FRAME_SAMPLES / 16000


def transcript(seconds, hotwords):
    text = f"stand-in: {seconds:.1f} s of speech"
    if hotwords:
        text += f" [hotwords: {', '.join(sorted(hotwords))}]"
    return text


# --------------------------------------------------------------------------- protocol

class Session:
    """One utterance on a connection: header, PCM, end of input."""

    def __init__(self, header):
        self.header = header
        self.pcm = bytearray()
        self.partials_sent = 0


async def handle(websocket, kind, hotwords):
    session = None
    async for message in websocket:
        if isinstance(message, bytes):
            if session is not None:
                session.pcm += message
                await maybe_send_partial(websocket, kind, session, hotwords)
            continue
        data = json.loads(message)
        if data.get("is_speaking") is False and session is not None:
            await send_final(websocket, kind, session, hotwords)
            session = None
        elif "mode" in data or data.get("is_speaking"):
            session = Session(data)


async def maybe_send_partial(websocket, kind, session, hotwords):
    """2pass server: a partial per 0.6 s of new audio once speech is heard."""
    if kind != "2pass" or session.header.get("mode") not in ("2pass", "online"):
        return
    due = len(session.pcm) // (16000 * 2 * 6 // 10)
    if due <= session.partials_sent:
        return
    session.partials_sent = due
    seconds = speech_seconds(frame_features(bytes(session.pcm)))
    if seconds:
        await websocket.send(json.dumps({"mode": "2pass-online", "text": transcript(seconds, {}),
                                         "wav_name": session.header.get("wav_name", ""),
                                         "is_final": False}, ensure_ascii=False))


async def send_final(websocket, kind, session, hotwords):
    if os.environ.get("FUNASR_STANDIN_FAIL") == "1":
        log("W", "FUNASR_STANDIN_FAIL=1: not answering (simulated broken release)")
        return
    seconds = speech_seconds(frame_features(bytes(session.pcm)))
    if not seconds:
        return  # the real server sends nothing when it recognised nothing
    result = {"mode": "2pass-offline" if kind == "2pass" else "offline",
              "text": transcript(seconds, hotwords),
              "wav_name": session.header.get("wav_name", ""),
              "is_final": kind == "2pass",
              "timestamp": f"[[0,{int(seconds * 1000)}]]"}
    if kind == "2pass":
        result["stamp_sents"] = []
    await websocket.send(json.dumps(result, ensure_ascii=False))


# --------------------------------------------------------------------------- server

def tls_context(options):
    if not options["certfile"]:
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(options["certfile"], options["keyfile"])
    return context


def listening_socket(address, port):
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((address, port))
    sock.listen(128)
    return sock


async def run(kind, options):
    sock = listening_socket(options["listen-ip"], int(options["port"]))
    log("I", f"listening on {options['listen-ip']}:{options['port']} (models loading)")
    stop = asyncio.get_running_loop().create_future()
    for signum in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set_result, None)
    load = float(os.environ.get("FUNASR_STANDIN_LOAD_SECONDS", "3"))
    check_models(kind, options)
    hotwords = load_hotwords(options["hotword"])
    done, _ = await asyncio.wait([stop], timeout=load)
    if done:
        return
    context = tls_context(options)

    async def handler(websocket):
        await handle(websocket, kind, hotwords)

    async with serve(handler, sock=sock, ssl=context, subprotocols=["binary"], max_size=None,
                     compression=None):
        log("I", f"model loaded, serving {'wss' if context else 'ws'} on port {options['port']}")
        await stop
    log("I", "stopped")


def check_gpu():
    """The GPU build stand-in (FUNASR_STANDIN_REQUIRE_GPU=1) needs GPUs reserved for it:
    docker's nvidia device driver sets NVIDIA_VISIBLE_DEVICES when compose reserves them.
    There is no CUDA here; this only proves the reservation reached the container."""
    if os.environ.get("FUNASR_STANDIN_REQUIRE_GPU") != "1":
        return
    devices = os.environ.get("NVIDIA_VISIBLE_DEVICES", "")
    if not devices or devices in ("void", "none"):
        log("E", "no GPU reserved for this container (NVIDIA_VISIBLE_DEVICES unset): the GPU "
                 "server cannot start (SIMULATED check)")
        sys.exit(1)
    log("I", f"GPUs reserved: NVIDIA_VISIBLE_DEVICES={devices} (SIMULATED GPU: no CUDA here)")


def main(argv):
    kind = server_kind(argv[0])
    options = parse_options(argv[1:], OPTIONS_2PASS if kind == "2pass" else OPTIONS_OFFLINE)
    log("I", f"funasr-fleet STAND-IN for the FunASR {kind} server (not FunASR; no recognition)")
    check_gpu()
    asyncio.run(run(kind, options))


if __name__ == "__main__":
    main(sys.argv)
