"""
The health gate a host's release must pass in its wave: its server instances probed with
real speech (`funasr_fleet.probe`), under the host's TLS policy and timeouts.
"""

import time
import weakref
from dataclasses import dataclass

from . import tls
from .probe import TlsPolicy, certificate_sha256, wait_until_healthy


@dataclass(frozen=True)
class Gate:
    """How a release is probed: instance URLs, probe mode, TLS policy and timeouts (s).

    + slow_start: callable, true at execution time when the server's start does extra
      work first (the GPU server's TorchScript export); the start timeout then grows by
      ``slow_start_timeout``
    """

    urls: tuple
    mode: str
    tls: object
    start_timeout: float
    probe_timeout: float
    slow_start: object = None
    slow_start_timeout: float = 0

    def start_seconds(self):
        """The start timeout for this execution."""
        slow = self.slow_start is not None and self.slow_start()
        return self.start_timeout + (self.slow_start_timeout if slow else 0)


def gate_results(gate):
    """Probe every instance of ``gate``, each waiting up to its start timeout; the results."""
    start_timeout = gate.start_seconds()
    return [wait_until_healthy(url, mode=gate.mode, tls=gate.tls, start_timeout=start_timeout,
                               probe_timeout=gate.probe_timeout) for url in gate.urls]


# How long a healthy result probed ahead of a host's own wave answers that wave's gate.
AHEAD_FRESH_SECONDS = 60

# Results probed ahead, per pyinfra run (its Host objects): host -> (config, when, results).
_AHEAD = weakref.WeakKeyDictionary()


def remember_ahead(host, config_sha256, results):
    """Keep ``host``'s healthy ``results`` for its release ``config_sha256`` (probed in
    an earlier wave's gate, with that wave's hosts)."""
    _AHEAD[host] = (config_sha256, time.monotonic(), results)


def results_ahead(host, config_sha256):
    """The results `remember_ahead` kept for ``host`` and this release, when younger
    than `AHEAD_FRESH_SECONDS`; else None."""
    config, when, results = _AHEAD.get(host, (None, 0, None))
    if config == config_sha256 and time.monotonic() - when < AHEAD_FRESH_SECONDS:
        return results
    return None


def tls_policy(settings):
    """How the probe checks the server certificate.

    ``files``: pinned to the deployed certificate. ``generated``: verified against the
    fleet CA (and only it) and the name the probe connects to, which the certificate
    holds (`Settings.tls_sans` has the SSH host and the probe address).
    """
    if settings.funasr_tls == "files":
        return TlsPolicy(pin_sha256=certificate_sha256(settings.funasr_tls_cert))
    if settings.funasr_tls == "generated":
        return TlsPolicy(cafile=str(tls.ca_files(settings.funasr_tls_dir).cert))
    return TlsPolicy()


def gate_for(settings, exporting=None):
    """The `Gate` a host's release must pass.

    + exporting: callable, true at execution time when the GPU server's export copy was
      made in this run (`deploys.service.funasr_service` returns it): its next start
      exports the TorchScript model first (minutes on a GPU), so that gate waits
      ``funasr_gpu_export_timeout`` seconds longer
    """
    return Gate(urls=tuple(instance.probe_url for instance in settings.instances),
                mode=settings.profile.probe_mode, tls=tls_policy(settings),
                start_timeout=settings.funasr_start_timeout,
                probe_timeout=settings.funasr_probe_timeout, slow_start=exporting,
                slow_start_timeout=settings.funasr_gpu_export_timeout)
