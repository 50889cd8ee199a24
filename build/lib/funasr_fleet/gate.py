"""
The health gate a host's release must pass in its wave: its server instances probed with
real speech (`funasr_fleet.probe`), under the host's TLS policy and timeouts.
"""

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
