"""
A stand-in for the ModelScope hub (ModelScope is unreachable where the lab runs).

It serves the two endpoints the fetcher uses, with the hub's JSON shapes and HTTP Range
support, for any model id and revision it is asked for: generated repositories from
standin_models.py. Every request is logged (JSON lines) so tests can count downloads.
Faults for tests, read from a JSON file on every request::

    {"corrupt": ["iic/x@v1/model_quant.onnx"], "cut_after": {"iic/x@v1/model.onnx": 1000}}

(``corrupt``: serve bytes that do not match the listed sha256; ``cut_after``: the next
download of that file drops the connection after N bytes, once.)

    python -m funasr_fleet.lab.standin_hub --port 0 --log hub.jsonl --faults faults.json
"""

import argparse
import json
import re
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from .standin_models import standin_repo

FILES_PATH = re.compile(r"^/api/v1/models/([^/]+/[^/]+)/repo/files$")
FILE_PATH = re.compile(r"^/api/v1/models/([^/]+/[^/]+)/repo$")
CHUNK = 256 * 1024


class StandinHub:
    """The hub server; ``start()`` it, read ``url`` and ``requests``, ``stop()`` it.

    + size: bytes of each model file it generates
    + log_path: optional JSON-lines request log
    + faults_path: optional faults file (see the module docstring)
    """

    def __init__(self, size=64 * 1024, host="127.0.0.1", port=0, log_path=None, faults_path=None):
        self.size = size
        self.log_path = Path(log_path) if log_path else None
        self.faults_path = Path(faults_path) if faults_path else None
        self.requests = []
        self.repos = {}
        self.cuts_done = set()
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer((host, port), _handler(self))
        self.server.daemon_threads = True
        self.thread = None

    @property
    def url(self):
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self):
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def repo(self, model_id, revision):
        with self.lock:
            key = (model_id, revision)
            if key not in self.repos:
                self.repos[key] = standin_repo(model_id, revision, self.size)
            return self.repos[key]

    def faults(self):
        if self.faults_path and self.faults_path.is_file():
            return json.loads(self.faults_path.read_text())
        return {}

    def record(self, entry):
        with self.lock:
            self.requests.append(entry)
            if self.log_path:
                with open(self.log_path, "a") as log:
                    log.write(json.dumps(entry) + "\n")

    def take_cut(self, key):
        """Bytes after which to drop this download (once per key), or None."""
        limit = self.faults().get("cut_after", {}).get(key)
        with self.lock:
            if limit is None or key in self.cuts_done:
                return None
            self.cuts_done.add(key)
            return limit


def _handler(hub):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_GET(self):
            parts = urlsplit(self.path)
            query = {key: values[0] for key, values in parse_qs(parts.query).items()}
            entry = {"time": time.time(), "method": "GET", "path": parts.path, "query": query,
                     "range": self.headers.get("Range"), "status": None, "bytes": 0}
            try:
                if FILES_PATH.match(parts.path):
                    self.list_files(FILES_PATH.match(parts.path).group(1), query, entry)
                elif FILE_PATH.match(parts.path):
                    self.send_file(FILE_PATH.match(parts.path).group(1), query, entry)
                else:
                    self.reply_json(404, {"Code": 404, "Message": "not found"}, entry)
            finally:
                hub.record(entry)

        def reply_json(self, status, body, entry):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            entry["status"] = status

        def list_files(self, model_id, query, entry):
            revision = query.get("Revision", "")
            repo = hub.repo(model_id, revision)
            # As the hub lists a recursive listing: Name is the base name, Path the full
            # path, and each sub-directory (example/, fig/) is a "tree" entry.
            stamp = f"standin{abs(hash(revision)) % 10**8}"
            trees = sorted({name.rpartition("/")[0] for name in repo if "/" in name})
            files = [{"Name": tree.rpartition("/")[2], "Path": tree, "Type": "tree", "Size": 0,
                      "Sha256": "", "Revision": stamp} for tree in trees]
            files += [{"Name": name.rpartition("/")[2], "Path": name, "Type": "blob", "Size": item.size,
                       "Sha256": item.sha256, "Revision": stamp}
                      for name, item in repo.items()]
            self.reply_json(200, {"Code": 200, "Data": {"Files": files}}, entry)

        def send_file(self, model_id, query, entry):
            revision, name = query.get("Revision", ""), query.get("FilePath", "")
            item = hub.repo(model_id, revision).get(name)
            if item is None:
                self.reply_json(404, {"Code": 404, "Message": f"{name} not in {model_id}"}, entry)
                return
            key = f"{model_id}@{revision}/{name}"
            start = _range_start(self.headers.get("Range"))
            if start is not None and start >= item.size:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{item.size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                entry["status"] = 416
                return
            offset = start or 0
            self.send_response(206 if start else 200)
            if start:
                self.send_header("Content-Range", f"bytes {offset}-{item.size - 1}/{item.size}")
            self.send_header("Content-Length", str(item.size - offset))
            self.end_headers()
            entry["status"] = 206 if start else 200
            corrupt = key in hub.faults().get("corrupt", [])
            cut = hub.take_cut(key)
            while offset < item.size:
                chunk = item.read(offset, CHUNK)
                if corrupt:
                    chunk = bytes(byte ^ 0xFF for byte in chunk)
                if cut is not None and entry["bytes"] + len(chunk) > cut:
                    chunk = chunk[:max(0, cut - entry["bytes"])]
                    self.wfile.write(chunk)
                    entry["bytes"] += len(chunk)
                    entry["cut"] = True
                    self.close_connection = True
                    return
                self.wfile.write(chunk)
                entry["bytes"] += len(chunk)
                offset += len(chunk)

    return Handler


def _range_start(header):
    match = re.fullmatch(r"bytes=(\d+)-", header or "")
    return int(match.group(1)) if match else None


def read_log(path):
    """The request records of a JSON-lines hub log ([] when absent)."""
    path = Path(path)
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m funasr_fleet.lab.standin_hub",
                                     description="ModelScope hub stand-in on 127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--size", type=int, default=64 * 1024, help="bytes per model file")
    parser.add_argument("--log", help="JSON-lines request log")
    parser.add_argument("--faults", help="faults JSON file, read on every request")
    parser.add_argument("--url-file", help="write the hub's URL here once it listens")
    args = parser.parse_args(argv)
    hub = StandinHub(size=args.size, port=args.port, log_path=args.log, faults_path=args.faults)
    if args.url_file:
        Path(args.url_file).write_text(hub.url + "\n")
    print(hub.url, flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        hub.server.serve_forever()
    finally:
        hub.server.server_close()


if __name__ == "__main__":
    main()
