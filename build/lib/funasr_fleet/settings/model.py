"""The `Settings` of a host: its validated data, typed, and the values derived from it."""

import os
from dataclasses import dataclass, field, make_dataclass

from .. import catalog
from ..cert_names import san_name
from ..errors import SettingsError
from .knobs import KNOB_DECLARATIONS
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


class _Derived:
    """The values `Settings` derives from a host's knobs: computed here once, so operations
    and templates never re-derive them."""

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


# A host's validated settings: ``host``, one field per knob (settings/knobs.py: the
# attribute names are the data keys, the types the checked values'), ``ssh_hostname`` and
# ``groups``, and the derived values of `_Derived`. Built from the declarations, so a new
# knob is a new field without another list to edit.
Settings = make_dataclass(
    "Settings",
    [("host", str), *((knob.name, knob.type) for knob in KNOB_DECLARATIONS),
     ("ssh_hostname", str), ("groups", tuple, field(default=()))],
    bases=(_Derived,), namespace={"__module__": __name__}, frozen=True)
Settings.__doc__ = ("A host's validated settings; attribute names are the data keys (see "
                    "group_data/all.py).\n\n" + _Derived.__doc__)
