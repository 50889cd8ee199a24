"""The `Settings` of a host: its validated data, typed, and the values derived from it."""

import os
from dataclasses import dataclass

from .. import catalog
from ..cert_names import san_name
from ..errors import SettingsError
from .secret_files import read_secret


SERVICE = "funasr"
BALANCER = "balancer"


@dataclass(frozen=True)
class Instance:
    """One FunASR server container of a host.

    + service: compose service name (``funasr``, or ``funasr-gpu<id>`` per GPU)
    + port: host port it is published on
    + gpus: what it reserves: ``"all"``, a count, a tuple of GPU ids, or None (CPU)
    + probe_url: where the control node probes it
    """

    service: str
    port: int
    gpus: object
    probe_url: str


@dataclass(frozen=True)
class Settings:
    """A host's validated settings; attribute names are the data keys (see group_data/all.py).

    Derived values (`profile`, `image`, `models`, `hotwords`, ...) are computed here once,
    so operations and templates never re-derive them.
    """

    host: str
    docker_source: str
    docker_repo_url: str
    docker_repo_key_fingerprint: str
    docker_version: str
    docker_data_root: str
    docker_log_max_size: str
    docker_log_max_file: int
    docker_registry_mirrors: tuple
    docker_live_restore: bool
    nvidia_repo_url: str
    nvidia_repo_key_fingerprint: str
    nvidia_toolkit_version: str
    funasr_gpus: object
    funasr_instance_per_gpu: bool
    nvidia_verify_in_container: bool
    funasr_profile: str
    funasr_version: str
    funasr_allow_unlisted_tag: bool
    funasr_image_tag: str
    funasr_image_registry: str
    funasr_image_repository: str
    funasr_image_delivery: str
    funasr_registry_username: str
    funasr_registry_password_env: str
    funasr_registry_password_file: str
    funasr_image_cache_dir: str
    funasr_dir: str
    funasr_project: str
    funasr_bind_address: str
    funasr_port: int
    funasr_io_threads: int
    funasr_decoder_threads: int
    funasr_model_threads: int
    funasr_quantize: bool
    funasr_fst_inc_wts: int
    funasr_memory_limit: str
    funasr_cpus: float
    funasr_restart_policy: str
    funasr_container_init: bool
    funasr_gpu_bladedisc: bool
    funasr_gpu_batch_size: int
    funasr_gpu_export_timeout: float
    funasr_tls: str
    funasr_tls_cert: str
    funasr_tls_key: str
    funasr_tls_dir: str
    funasr_tls_sans: tuple
    funasr_allow_from: tuple
    funasr_models: dict
    funasr_models_cache_dir: str
    funasr_models_endpoint: str
    funasr_models_ssh_ciphers: str
    funasr_hotwords: dict
    funasr_canary: object
    funasr_waves: tuple
    funasr_lb_group: str
    funasr_lb_port: int
    funasr_lb_backend_address: str
    funasr_lb_drain_timeout: float
    funasr_probe_address: str
    funasr_probe_ports: dict
    funasr_probe_timeout: float
    funasr_start_timeout: float
    ssh_hostname: str
    groups: tuple = ()

    @property
    def is_balancer(self):
        """This host runs the fleet's TCP load balancer (it is in ``funasr_lb_group``), not a server."""
        return self.funasr_lb_group in self.groups

    @property
    def balancer_address(self):
        """Where a load balancer reaches this host's servers."""
        return self.funasr_lb_backend_address or self.ssh_hostname

    @property
    def profile(self):
        return catalog.get_profile(self.funasr_profile)

    @property
    def image_tag(self):
        return self.funasr_image_tag or self.profile.tag(self.funasr_version)

    @property
    def image(self):
        """Full image reference, e.g. ``registry.cn-hangzhou.aliyuncs.com/funasr_repo/funasr:TAG``."""
        registry = f"{self.funasr_image_registry}/" if self.funasr_image_registry else ""
        return f"{registry}{self.funasr_image_repository}:{self.image_tag}"

    @property
    def instances(self):
        """The server instances of this host: one, or one per GPU (`Instance` items); on
        a load balancer host, the balancer's listener (service ``balancer``)."""
        if self.is_balancer:
            return (self._instance(BALANCER, self.funasr_lb_port, None),)
        if not self.funasr_instance_per_gpu:
            gpus = self.funasr_gpus if self.profile.gpu else None
            return (self._instance(SERVICE, self.funasr_port, gpus),)
        ids = (self.funasr_gpus if isinstance(self.funasr_gpus, tuple)
               else tuple(str(index) for index in range(self.funasr_gpus)))
        names = [f"{SERVICE}-gpu{gpu}" if gpu.isdigit() else f"{SERVICE}-{gpu.lower()}" for gpu in ids]
        return tuple(self._instance(name, self.funasr_port + offset, (gpu,))
                     for offset, (name, gpu) in enumerate(zip(names, ids)))

    def _instance(self, service, port, gpus):
        scheme = "wss" if self.funasr_tls != "off" else "ws"
        address = self.funasr_probe_address or self.ssh_hostname
        probe_port = self.funasr_probe_ports.get(port, port)
        return Instance(service=service, port=port, gpus=gpus,
                        probe_url=f"{scheme}://{address}:{probe_port}")

    @property
    def tls_sans(self):
        """The names a generated certificate holds: the inventory name, the SSH host, the
        probe address and ``funasr_tls_sans``, canonical (`cert_names.san_name`), without
        repeats."""
        names = (self.host, self.ssh_hostname, self.funasr_probe_address, *self.funasr_tls_sans)
        return tuple(dict.fromkeys(san_name(name) for name in names if name))

    @property
    def registry_password(self):
        """The registry password, read now from ``funasr_registry_password_file`` or the
        environment variable ``funasr_registry_password_env`` names ('' if neither is set).

        A secret: hand it to operations as a ``pyinfra.api.HiddenValue``, never log it.
        """
        if self.funasr_registry_password_file:
            try:
                return read_secret(self.funasr_registry_password_file)
            except ValueError as error:
                raise SettingsError(f"{self.host}: funasr_registry_password_file: {error}") from None
        if self.funasr_registry_password_env:
            return os.environ.get(self.funasr_registry_password_env, "")
        return ""
