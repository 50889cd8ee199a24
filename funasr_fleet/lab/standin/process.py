"""
The server process: which server it is, listen() before the models load, wss or ws,
serving until it is killed (no signal handlers, as the real server). Citations use the
short source names listed in the package docstring (__init__.py).
"""

import asyncio
import os
import signal
import socket
import ssl
import sys
import time

from .loading import load_models
from .protocol import Server
from .startup import prepare


def server_kind(argv0, env):
    """'2pass' or 'offline': FUNASR_STANDIN_KIND, else the name the script runs as."""
    kind = env.get("FUNASR_STANDIN_KIND")
    if kind:
        return kind
    return "2pass" if os.path.basename(argv0).endswith("2pass") else "offline"


def listening_socket(address, port):
    """listen() before the models load (funasr-wss-server-2pass.cpp:544-569, initAsr at :569)."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # set_reuse_addr(true)
    sock.bind((address, port))
    sock.listen(128)
    return sock


def tls_context(options):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(options["certfile"], options["keyfile"])
    return context


async def serve_forever(st, sock, env):
    from websockets.asyncio.server import serve

    server = Server(st, fail=env.get("FUNASR_STANDIN_FAIL") == "1")
    # The real server selects no subprotocol and does not compress (websocketpp defaults).
    async with serve(server.handle, sock=sock, ssl=tls_context(st.options) if st.ssl else None,
                     max_size=None, compression=None, ping_interval=None):
        await asyncio.Future()


def main(argv, env=None):
    env = dict(os.environ if env is None else env)
    # No SIGTERM/SIGINT handlers: the real server installs none, so as PID 1 in a container
    # the kernel drops both and `docker stop` waits its grace period (unless `init: true`).
    # Python's own SIGINT handler (KeyboardInterrupt) would differ: reset it.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    kind = server_kind(argv[0], env)

    def echo(line):
        print(line, file=sys.stderr, flush=True)

    st = prepare(kind, argv, env, echo)
    if st.exit_code is not None:
        sys.exit(st.exit_code)
    sock = listening_socket(st.options["listen-ip"], st.options["port"])
    time.sleep(float(env.get("FUNASR_STANDIN_LOAD_SECONDS", "3")))  # model load time
    load_models(st)
    if st.exit_code is not None:
        sys.exit(st.exit_code)
    asyncio.run(serve_forever(st, sock, env))
