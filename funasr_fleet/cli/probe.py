"""
``python -m funasr_fleet probe ws[s]://HOST:PORT [--json]``: probe one FunASR server with
real speech (`funasr_fleet.probe`).
"""

import argparse
import json
import sys

from ..probe import TlsPolicy, probe


def main(argv):
    """CLI: ``probe URL [--mode M] [--timeout S] [--insecure|--cafile F|--pin-sha256 H] [--json]``.

    Exit status 0 healthy, 1 unhealthy, 2 usage error.
    """
    parser = argparse.ArgumentParser(prog="python -m funasr_fleet probe",
                                     description="Probe a FunASR server with real speech.")
    parser.add_argument("url", help="ws://HOST:PORT or wss://HOST:PORT")
    parser.add_argument("--mode", choices=("2pass", "offline"), default="2pass")
    parser.add_argument("--timeout", type=float, default=15.0, help="seconds for the final result")
    parser.add_argument("--connect-timeout", type=float, default=5.0)
    parser.add_argument("--insecure", action="store_true", help="accept any certificate (wss)")
    parser.add_argument("--cafile", help="trust this CA bundle or certificate (wss)")
    parser.add_argument("--pin-sha256", help="require this leaf certificate sha256 (wss)")
    parser.add_argument("--realtime", action="store_true",
                        help="send the audio at its own pace, like a microphone")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    tls = TlsPolicy(verify=not args.insecure, cafile=args.cafile, pin_sha256=args.pin_sha256)
    result = probe(args.url, mode=args.mode, timeout=args.timeout,
                   connect_timeout=args.connect_timeout, tls=tls, realtime=args.realtime)
    if args.json:
        print(json.dumps(result.to_dict(), ensure_ascii=False))
    elif result.ok:
        print(f"healthy {args.url}: {result.text!r} in {result.latency_s:.2f}s")
    else:
        print(f"UNHEALTHY {args.url}: {result.stage}: {result.error}", file=sys.stderr)
    return 0 if result.ok else 1
