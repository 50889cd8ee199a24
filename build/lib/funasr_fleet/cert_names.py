"""
The names in TLS certificates (subjectAltName): their canonical form, which host data
is checked against (`funasr_fleet.settings`), and the names a certificate holds.
"""

import ipaddress
import re

from cryptography import x509

_LABEL = r"(?!-)[a-z0-9_-]{1,63}(?<!-)"
_DNS_NAME = re.compile(rf"{_LABEL}(\.{_LABEL})*")


def san_name(value):
    """The canonical form of a certificate name: an IP address or a lowercase DNS name.

    + value: a DNS name (``asr-1.example.com``, ``lab-1``) or an IPv4/IPv6 address

    Raises ValueError for anything else (URLs, ``host:port``, wildcards, scoped IPv6).

    **Example:**

    .. code:: python

        san_name("ASR-1.Example.com.")  # 'asr-1.example.com'
        san_name("2001:db8:0::5")       # '2001:db8::5'
    """
    if isinstance(value, str) and "%" not in value:
        try:
            return str(ipaddress.ip_address(value))
        except ValueError:
            pass
    name = value.lower().removesuffix(".") if isinstance(value, str) else ""
    if len(name) > 253 or re.fullmatch(r"[0-9.]+", name) or not _DNS_NAME.fullmatch(name):
        raise ValueError(f"{value!r} is not a DNS name or an IP address (e.g. 'asr-1.example.com' "
                         "or '10.0.0.5'; no scheme, port or wildcard)")
    return name


def certificate_names(certificate):
    """The canonical names (`san_name`) in a certificate's subjectAltName, in order.

    + certificate: an ``x509.Certificate`` or PEM bytes

    **Example:**

    .. code:: python

        certificate_names(Path("hosts/asr-1/server.crt").read_bytes())  # ('asr-1', '10.0.0.5')
    """
    if isinstance(certificate, bytes):
        certificate = x509.load_pem_x509_certificate(certificate)
    try:
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return ()
    return tuple(str(entry.value) if isinstance(entry, x509.IPAddress) else entry.value.lower()
                 for entry in names if isinstance(entry, (x509.IPAddress, x509.DNSName)))
