"""
The WebSocket protocol of both servers over a start that succeeded: the first message's
fields and hotwords, when partial and final replies are due, and their exact JSON.
Citations use the short source names listed in the package docstring (__init__.py).
"""

import json
import os
import sys

from .glog import STANDIN, glog_line
from .recognition import frame_features, speech_seconds, transcript


def merge_hotwords(client, server_hws):
    """websocket-server-2pass.cpp:417-461: the client's "hotwords" (a JSON object in a
    string: FST map; anything else unparsable: nn hotwords, space separated) merged with
    the server file's map (the client's weight wins: unordered_map::insert)."""
    merged, nn = {}, []
    if isinstance(client, str) and client:
        try:
            parsed = json.loads(client)
            if isinstance(parsed, dict):
                merged.update({key: value for key, value in parsed.items()
                               if isinstance(value, (int, float)) and not isinstance(value, bool)})
        except ValueError:
            nn = [word for word in client.split(" ") if word]
    for phrase, weight in server_hws.items():
        merged.setdefault(phrase, weight)
    return merged, nn


def _dump(message):
    """nlohmann::json::dump(): object keys sorted (std::map), compact, UTF-8 as is."""
    return json.dumps(message, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


class Connection:
    """FUNASR_MESSAGE of one connection (websocket-server-2pass.cpp:240-270 on_open)."""

    def __init__(self):
        self.msg = {"wav_format": "pcm", "wav_name": "wav-default-id", "mode": "2pass", "itn": True,
                    "audio_fs": 16000, "is_eof": False}
        self.samples = bytearray()     # received, not yet decoded
        self.decoded = bytearray()     # PCM the online stream has seen in this utterance
        self.partials_sent = 0
        self.online_handle = False
        self.hotwords = None           # merged hotwords once compiled (None: not yet)


class Server:
    """The protocol of both servers over a `Startup` that started."""

    def __init__(self, st, fail=False):
        self.st, self.fail = st, fail

    def log(self, level, where, message):
        print(glog_line(level, where, message), file=sys.stderr, flush=True)

    def active_hotwords(self, conn):
        if not self.st.hotwords_active or not conn.hotwords:
            return ()
        merged, nn = conn.hotwords
        return list(merged) + [word for word in nn if word not in merged]

    async def handle(self, websocket):
        conn = Connection()
        async for payload in websocket:
            if conn.msg["is_eof"]:
                continue
            replies = (self.on_text_2pass if self.st.kind == "2pass" else self.on_text_offline)(
                conn, payload) if isinstance(payload, str) else self.on_binary(conn, payload)
            for reply in replies:
                if not self.fail:
                    await websocket.send(_dump(reply))
                else:
                    self.log("W", STANDIN, "FUNASR_STANDIN_FAIL=1: not answering (LAB-ONLY fault "
                                           "switch: a broken release)")

    def _header(self, conn, data, where):
        if conn.hotwords is None:  # websocket-server-2pass.cpp:418-461
            conn.hotwords = merge_hotwords(data.get("hotwords"), self.st.hotwords)
            self.log("I", f"{where}:450", "hotwords: ")
            for phrase, weight in conn.hotwords[0].items():
                self.log("I", f"{where}:453", f"{phrase} : {weight}")

    def on_text_2pass(self, conn, payload):
        """websocket-server-2pass.cpp:395-525."""
        w = "websocket-server-2pass.cpp"
        try:
            data = json.loads(payload)
            if not isinstance(data, dict):
                raise ValueError("not an object")
        except ValueError as error:  # :399-405
            self.log("E", f"{w}:401", str(error))
            conn.msg["is_eof"] = True
            return []
        for key in ("wav_name", "mode", "wav_format"):  # :407-416
            if key in data:
                conn.msg[key] = data[key]
        self._header(conn, data, w)
        if "audio_fs" in data:
            conn.msg["audio_fs"] = data["audio_fs"]
        if "chunk_size" in data and not conn.online_handle:  # :466-480
            chunk = data["chunk_size"]
            if isinstance(chunk, list) and len(chunk) == 3 and chunk[1] != 0:
                if not self.st.loaded.get("vad"):  # tpass-online-stream.cpp:6-11
                    self.log("E", "tpass-online-stream.cpp:9", "vad_handle is null")
                    sys.stderr.flush()
                    os._exit(255)  # exit(-1): the whole server ends
                conn.online_handle = True
            else:
                self.log("E", f"{w}:476", "Wrong chunk_size!")
                return []  # break: not even the end-of-input check below
        if "itn" in data:
            conn.msg["itn"] = data["itn"]
        if data.get("is_speaking") is False or data.get("is_finished") is True:  # :492-523
            self.log("I", f"{w}:496", "client done")
            pcm, conn.samples = bytes(conn.samples), bytearray()
            return self.decode_2pass(conn, pcm, final=True)
        return []

    def on_binary(self, conn, payload):
        if self.st.kind != "2pass":  # websocket-server.cpp:396-408: collect until the end
            conn.samples += payload
            return []
        conn.samples += payload  # websocket-server-2pass.cpp:526-574
        step = 800 * 2
        if len(conn.samples) <= step:
            return []
        count = len(conn.samples) // step * step
        chunk, conn.samples = bytes(conn.samples[:count]), conn.samples[count:]
        if conn.hotwords is None:  # :549: nothing decodes before the first text message
            return []
        return self.decode_2pass(conn, chunk, final=False)

    def decode_2pass(self, conn, pcm, final):
        """do_decoder (websocket-server-2pass.cpp:100-238) + FunTpassInferBuffer
        (funasrruntime.cpp:482-520)."""
        if not conn.online_handle:  # :118-123
            self.log("I", "websocket-server-2pass.cpp:120", "tpass_online_handle  is free, return")
            return []
        if not self.st.loaded.get("punc"):  # funasrruntime.cpp:508-510: no Result, ever
            return []
        if conn.msg["wav_format"] not in ("pcm", "PCM"):  # funasrruntime.cpp:512-520
            self.log("E", "funasrruntime.cpp:518", f"Wrong wav_format: {conn.msg['wav_format']}")
            if final:  # websocket-server-2pass.cpp:214-228
                return [{"text": "ERROR. Real-time transcription service ONLY SUPPORT PCM stream.",
                         "wav_name": conn.msg["wav_name"], "is_final": True}]
            return []
        conn.decoded += pcm
        replies = []
        mode = conn.msg["mode"]
        if not final:
            # partials: online text only in modes online/2pass (funasrruntime.cpp:530-550);
            # sent only when text is non-empty (websocket-server-2pass.cpp:159-173).
            due = len(conn.decoded) // (16000 * 2 * 6 // 10)
            if mode in ("2pass", "online") and due > conn.partials_sent:
                conn.partials_sent = due
                seconds = speech_seconds(frame_features(bytes(conn.decoded)))
                if seconds:
                    replies.append({"text": transcript(seconds), "mode": "2pass-online",
                                    "wav_name": conn.msg["wav_name"], "is_final": False})
            return replies
        seconds = speech_seconds(frame_features(bytes(conn.decoded)))
        conn.decoded, conn.partials_sent = bytearray(), 0
        result = {"text": "", "wav_name": conn.msg["wav_name"], "is_final": True}  # handle_result :60-98
        if seconds:
            end = int(seconds * 1000)
            text = transcript(seconds, self.active_hotwords(conn))
            result.update({"text": text, "mode": "2pass-offline", "timestamp": f"[[0,{end}]]",
                           "stamp_sents": [{"end": end, "punc": "", "start": 0, "text_seg": text,
                                            "ts_list": [[0, end]]}]})
        return [result]  # :201-213: the final is sent whenever a Result exists

    def on_text_offline(self, conn, payload):
        """websocket-server.cpp:295-395 and do_decoder :61-152."""
        w = "websocket-server.cpp"
        try:
            data = json.loads(payload)
            if not isinstance(data, dict):
                raise ValueError("not an object")
        except ValueError as error:
            self.log("E", f"{w}:301", str(error))
            conn.msg["is_eof"] = True
            return []
        for key in ("wav_name", "wav_format"):
            if data.get(key) is not None:
                conn.msg[key] = data[key]
        if conn.hotwords is None:
            conn.hotwords = merge_hotwords(data.get("hotwords"), self.st.hotwords)
            self.log("I", f"{w}:347", "hotwords: ")
            for phrase, weight in conn.hotwords[0].items():
                self.log("I", f"{w}:350", f"{phrase} : {weight}")
        if data.get("is_speaking") is False or data.get("is_finished") is True:  # :371-393
            self.log("I", f"{w}:375", "client done")
            pcm, conn.samples = bytes(conn.samples), bytearray()
            if not pcm:  # :128-145 "Sent empty msg"
                self.log("I", f"{w}:129", "Sent empty msg")
                return [{"text": "", "mode": "offline", "is_final": False,
                         "wav_name": conn.msg["wav_name"]}]
            seconds = speech_seconds(frame_features(pcm))
            result = {"text": "", "mode": "offline", "is_final": False, "wav_name": conn.msg["wav_name"]}
            if seconds:  # :98-116: timestamp only when there is one
                result["text"] = transcript(seconds, self.active_hotwords(conn))
                result["timestamp"] = f"[[0,{int(seconds * 1000)}]]"
            return [result]
        return []
