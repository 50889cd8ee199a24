"""
``funasr-fleet probe ws[s]://HOST:PORT [--json]``: probe one FunASR server with real speech
(`funasr_fleet.probe`).
"""

import json

import click

from ..probe import TlsPolicy, probe as probe_server


@click.command()
@click.argument("url")
@click.option("--mode", type=click.Choice(["2pass", "offline"]), default="2pass", show_default=True)
@click.option("--timeout", type=float, default=15.0, show_default=True, help="seconds for the final result")
@click.option("--connect-timeout", type=float, default=5.0, show_default=True)
@click.option("--insecure", is_flag=True, help="accept any certificate (wss)")
@click.option("--cafile", help="trust this CA bundle or certificate (wss)")
@click.option("--pin-sha256", help="require this leaf certificate sha256 (wss)")
@click.option("--realtime", is_flag=True, help="send the audio at its own pace, like a microphone")
@click.option("--json", "as_json", is_flag=True, help="print the result as JSON")
def probe(url, mode, timeout, connect_timeout, insecure, cafile, pin_sha256, realtime, as_json):
    """Probe a FunASR server at URL (ws://HOST:PORT or wss://HOST:PORT) with real speech.

    Exit status 0 healthy, 1 unhealthy, 2 usage error."""
    tls = TlsPolicy(verify=not insecure, cafile=cafile, pin_sha256=pin_sha256)
    result = probe_server(url, mode=mode, timeout=timeout, connect_timeout=connect_timeout, tls=tls,
                          realtime=realtime)
    if as_json:
        click.echo(json.dumps(result.to_dict(), ensure_ascii=False))
    elif result.ok:
        click.echo(f"healthy {url}: {result.text!r} in {result.latency_s:.2f}s")
    else:
        click.echo(f"UNHEALTHY {url}: {result.stage}: {result.error}", err=True)
    raise click.exceptions.Exit(0 if result.ok else 1)
