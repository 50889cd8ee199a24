"""
Generated TLS (``funasr_tls = "generated"``): a fleet CA on the control node signs one
server certificate per host; the probe trusts that CA and checks the host name.

    <funasr_tls_dir>/                 mode 0700
        ca/ca.crt  ca/ca.key          the fleet CA (key 0600), made once
        hosts/<host>/server.crt       the host's certificate
        hosts/<host>/server.key       its key (0600)

`fleet_ca` makes the CA once per fleet: in a temporary directory renamed into place,
under the control-node cache lock (`funasr_fleet.cachelock`), so hosts prepared in
parallel greenlets, or two pyinfra runs, end up with one CA. `host_certificate` keeps a
host's certificate while it is signed by that CA, matches its key, holds exactly the
wanted names and has more than `RENEW_BEFORE` left; otherwise it issues a new key and
certificate. A converge with unchanged names therefore reuses the same bytes and changes
nothing on the host; a changed name list re-issues (and restarts that host's server).
`plan_host_certificate` gives the same decision without writing anything (pyinfra ``--dry``).

Keys are created with mode 0600 (never readable by others, not even for a moment) and
are never logged or printed: messages name paths and certificate names only.
"""

import datetime
import ipaddress
import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .cachelock import exclusive, produce_once
from .cert_names import certificate_names, san_name
from .errors import DeployError

CA_LIFETIME = datetime.timedelta(days=3650)
CERTIFICATE_LIFETIME = datetime.timedelta(days=365)
# A certificate with less than this left is re-issued by the next converge.
RENEW_BEFORE = datetime.timedelta(days=30)
# Tolerated clock difference between the control node and the probe's or client's clock.
BACKDATE = datetime.timedelta(minutes=5)


@dataclass(frozen=True)
class CertificateFiles:
    """A PEM certificate and its private key on the control node.

    + cert: the certificate file
    + key: the private key file (mode 0600)
    """

    cert: Path
    key: Path

    def contents(self):
        """``(certificate bytes, key bytes)``, read from the files."""
        return self.cert.read_bytes(), self.key.read_bytes()


@dataclass(frozen=True)
class PlannedCertificate:
    """A certificate a real run would issue, planned by ``--dry`` (nothing was written).

    + files: the host's `CertificateFiles` it would replace or create
    + names: the names it would hold
    + reason: why it would be issued (as `Issued.reason`)
    + new_ca: the fleet CA would be created first

    Its `contents` are placeholders, never valid PEM: they differ from what a host holds,
    as the real new pair would, so the plan shows the host's TLS files and configuration
    changing. They never reach a host (a ``--dry`` run executes nothing).
    """

    files: CertificateFiles
    names: tuple
    reason: str
    new_ca: bool = False

    def contents(self):
        """Placeholder ``(certificate bytes, key bytes)`` (see the class)."""
        note = f"funasr-fleet --dry: a new {{}} for {', '.join(self.names)} is issued by a real run\n"
        return note.format("certificate").encode(), note.format("key").encode()


@dataclass(frozen=True)
class Issued:
    """What `host_certificate` returns.

    + files: the host's `CertificateFiles`
    + reason: why a new certificate was issued in this call (e.g. ``"its names changed"``),
      or None when the existing one was kept
    """

    files: CertificateFiles
    reason: str | None


def ca_files(tls_dir):
    """The fleet CA's `CertificateFiles` under ``tls_dir`` (they may not exist yet).

    **Example:**

    .. code:: python

        TlsPolicy(cafile=str(ca_files("~/.config/funasr-fleet/tls").cert))
    """
    return CertificateFiles(cert=Path(tls_dir) / "ca" / "ca.crt", key=Path(tls_dir) / "ca" / "ca.key")


def host_files(tls_dir, host):
    """The `CertificateFiles` of inventory host ``host`` under ``tls_dir``."""
    directory = Path(tls_dir) / "hosts" / host
    return CertificateFiles(cert=directory / "server.crt", key=directory / "server.key")


def fleet_ca(tls_dir):
    """The fleet CA's `CertificateFiles`, the CA made first if ``tls_dir`` has none.

    + tls_dir: the control-node TLS directory (``funasr_tls_dir``); made with mode 0700 if
      missing, refused (`DeployError`) if other users can open it

    Safe to call from every host's greenlet at once: exactly one makes the CA, the others
    wait for it and use the same one.

    **Example:**

    .. code:: python

        ca = fleet_ca(Path("~/.config/funasr-fleet/tls").expanduser())
    """
    files = ca_files(tls_dir)
    _private_directory(Path(tls_dir))
    produce_once(files.cert.parent, lambda: _create_ca(files.cert.parent))
    return files


def host_certificate(tls_dir, host, names, now=None):
    """Give inventory host ``host`` a certificate for ``names`` signed by the fleet CA.

    + tls_dir: the control-node TLS directory (``funasr_tls_dir``)
    + host: the inventory name (the files go to ``hosts/<host>/``)
    + names: the subjectAltName entries (DNS names and IP addresses, see
      `cert_names.san_name`); the first is also the subject's common name
    + now: the current time (tests); default: now, UTC

    The existing certificate is kept, byte for byte, while it is still right; the check
    and any re-issue run under a per-host lock. Returns an `Issued`.

    **Example:**

    .. code:: python

        issued = host_certificate(tls_dir, "asr-1", ["asr-1", "asr-1.example.com", "10.0.0.5"])
        if issued.reason:
            print(f"new certificate: {issued.reason}")
    """
    names = tuple(dict.fromkeys(san_name(name) for name in names))
    if not names:
        raise ValueError("a certificate needs at least one name")
    now = now or datetime.datetime.now(datetime.timezone.utc)
    try:
        ca = _load_ca(fleet_ca(tls_dir))
        files = host_files(tls_dir, host)
        _private_directory(files.cert.parent)
        with exclusive(files.cert.parent):
            reason = reissue_reason(files, ca[0], names, now)
            if reason:
                _issue(files, ca, names, now)
    except OSError as error:
        raise DeployError(f"cannot write TLS files under {tls_dir} on the control node: {error}; "
                          "make funasr_tls_dir a directory you can write, or point it elsewhere") \
            from None
    return Issued(files=files, reason=reason)


def plan_host_certificate(tls_dir, host, names, now=None):
    """What `host_certificate` would do, found without writing anything (``--dry``).

    + tls_dir, host, names, now: as for `host_certificate`

    Returns the host's `CertificateFiles` when its certificate would be kept, else a
    `PlannedCertificate` saying why it would be issued and whether the fleet CA would be
    created first. Reads the CA certificate and the host's files; creates no directory,
    key, lock or file. Refuses what `host_certificate` refuses (a TLS directory other
    users can open, an unreadable CA) with the same `DeployError`.

    **Example:**

    .. code:: python

        plan = plan_host_certificate(tls_dir, "asr-1", ["asr-1", "10.0.0.5"])
        if isinstance(plan, PlannedCertificate):
            print(f"would issue: {plan.reason}")
    """
    names = tuple(dict.fromkeys(san_name(name) for name in names))
    if not names:
        raise ValueError("a certificate needs at least one name")
    now = now or datetime.datetime.now(datetime.timezone.utc)
    ca, files = ca_files(tls_dir), host_files(tls_dir, host)
    try:
        for directory in (Path(tls_dir), files.cert.parent):
            if directory.exists():
                _refuse_shared(directory)
        new_ca = not ca.cert.parent.exists()
        # A CA made now would be a new one: an existing certificate is checked against a
        # throwaway CA made in memory, which gives the reason a real run would give.
        ca_certificate = _new_ca()[0] if new_ca else _load_ca(ca)[0]
        reason = reissue_reason(files, ca_certificate, names, now)
    except OSError as error:
        raise DeployError(f"cannot read TLS files under {tls_dir} on the control node: {error}; "
                          "make funasr_tls_dir a directory you can read, or point it elsewhere") \
            from None
    if reason is None:
        return files
    return PlannedCertificate(files=files, names=names, reason=reason, new_ca=new_ca)


def reissue_reason(files, ca_certificate, names, now):
    """Why the certificate in ``files`` must be re-issued, or None when it can stay.

    + files: the host's `CertificateFiles`
    + ca_certificate: the fleet CA's ``x509.Certificate``
    + names: the wanted names, canonical (`cert_names.san_name`)
    + now: the current time (aware datetime)

    **Example:**

    .. code:: python

        reissue_reason(host_files(tls_dir, "asr-1"), ca_cert, ("asr-1",), now)  # 'no certificate yet'
    """
    try:
        certificate = x509.load_pem_x509_certificate(files.cert.read_bytes())
        key = serialization.load_pem_private_key(files.key.read_bytes(), password=None)
    except FileNotFoundError:
        return "no certificate yet"
    except (ValueError, TypeError):
        return "its certificate or key file is damaged"
    if _public_der(certificate.public_key()) != _public_der(key.public_key()):
        return "its key does not match the certificate"
    try:
        certificate.verify_directly_issued_by(ca_certificate)
    except (ValueError, TypeError, InvalidSignature):
        return "it is not signed by the fleet CA"
    held = certificate_names(certificate)
    if set(held) != set(names):
        return f"its names changed (it had {', '.join(held) or 'none'})"
    if certificate.not_valid_after_utc - now < RENEW_BEFORE:
        return f"it expires on {certificate.not_valid_after_utc:%Y-%m-%d}"
    return None


def _general_name(name):
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def _public_der(public_key):
    return public_key.public_bytes(serialization.Encoding.DER,
                                   serialization.PublicFormat.SubjectPublicKeyInfo)


def _create_ca(directory):
    """Make a new CA (key + self-signed certificate) and rename it into ``directory``."""
    staging = Path(tempfile.mkdtemp(prefix=".ca-", dir=directory.parent))  # mode 0700
    certificate, key = _new_ca()
    _write(staging / "ca.key", _private_pem(key), 0o600)
    _write(staging / "ca.crt", certificate.public_bytes(serialization.Encoding.PEM), 0o644)
    staging.rename(directory)


def _new_ca():
    """``(certificate, key)`` of a new CA, in memory."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "funasr-fleet"),
                      x509.NameAttribute(NameOID.COMMON_NAME, f"funasr-fleet CA {os.urandom(4).hex()}")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE).not_valid_after(now + CA_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                     key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, key_cert_sign=True, crl_sign=True,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return certificate, key


def _load_ca(files):
    """``(certificate, key)`` of the fleet CA; `DeployError` naming the files when unusable."""
    try:
        return (x509.load_pem_x509_certificate(files.cert.read_bytes()),
                serialization.load_pem_private_key(files.key.read_bytes(), password=None))
    except (OSError, ValueError, TypeError):
        raise DeployError(
            f"the fleet CA in {files.cert.parent} cannot be read (ca.crt and an unencrypted "
            "ca.key are expected); restore it from your backup, or move the directory away to "
            "make a new CA (every host then gets a new certificate)") from None


def _issue(files, ca, names, now):
    """Write a new key and a certificate for ``names`` signed by ``ca`` (key first)."""
    ca_certificate, ca_key = ca
    key = ec.generate_private_key(ec.SECP256R1())
    common_name = names[0] if len(names[0]) <= 64 else "funasr-fleet server"
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca_certificate.subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(min(now + CERTIFICATE_LIFETIME, ca_certificate.not_valid_after_utc))
        .add_extension(x509.SubjectAlternativeName([_general_name(name) for name in names]),
                       critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                     key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, key_cert_sign=False, crl_sign=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                       critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    # Key first: a run stopped between the two leaves a key that does not match the old
    # certificate, which the next run notices and re-issues.
    _write(files.key, _private_pem(key), 0o600)
    _write(files.cert, certificate.public_bytes(serialization.Encoding.PEM), 0o644)


def _private_pem(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _write(path, data, mode):
    """Replace ``path`` with ``data`` by rename; the file has ``mode`` from its creation."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.write(descriptor, data)
        os.fchmod(descriptor, mode)  # whatever the umask
    finally:
        os.close(descriptor)
    os.replace(temporary, path)


def _private_directory(path):
    """Make ``path`` with mode 0700 if missing; refuse an existing one other users can open."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    _refuse_shared(path)


def _refuse_shared(path):
    """`DeployError` when other users can open the directory ``path``."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise DeployError(f"{path} is open to other users (mode {mode:o}) and would hold private "
                          "keys; chmod 700 it, or set funasr_tls_dir to a private directory")
