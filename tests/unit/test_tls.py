"""Generated TLS: one fleet CA, per-host certificates with the right names, reused until they change."""

import datetime
import ipaddress
import stat
from concurrent.futures import ThreadPoolExecutor

import pytest
from cryptography import x509
from pyinfra.context import ctx_host

from funasr_fleet import tls
from funasr_fleet.cert_names import certificate_names, san_name
from funasr_fleet.deploys.service import release_files, server_certificate
from funasr_fleet.gate import tls_policy
from funasr_fleet.settings import load_settings
from helpers import FakeHost, make_inventory


def mode(path):
    return stat.S_IMODE(path.stat().st_mode)


def subject_alt_names(path):
    certificate = x509.load_pem_x509_certificate(path.read_bytes())
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return (sorted(names.get_values_for_type(x509.DNSName)),
            sorted(str(address) for address in names.get_values_for_type(x509.IPAddress)))


def generated(tmp_path, name="h1", **data):
    inventory = make_inventory([(name, {"funasr_tls": "generated", "funasr_tls_dir": str(tmp_path / "tls"),
                                        **data})])
    return load_settings(inventory.get_host(name))


def test_the_certificate_names_the_host_its_addresses_and_the_extra_sans(tmp_path):
    settings = generated(tmp_path, ssh_hostname="10.0.0.5", funasr_probe_address="asr-1.example.com",
                         funasr_tls_sans=["ASR.example.com", "2001:db8::5", "10.0.0.5"])
    issued = tls.host_certificate(settings.funasr_tls_dir, settings.host, settings.tls_sans)
    assert issued.reason == "no certificate yet"
    dns, ips = subject_alt_names(issued.files.cert)
    assert dns == ["asr-1.example.com", "asr.example.com", "h1"]
    assert ips == ["10.0.0.5", "2001:db8::5"]  # IP-looking names are IP SANs, each once
    certificate = x509.load_pem_x509_certificate(issued.files.cert.read_bytes())
    ca = x509.load_pem_x509_certificate(tls.ca_files(settings.funasr_tls_dir).cert.read_bytes())
    certificate.verify_directly_issued_by(ca)
    assert certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value == \
        x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH])


def test_a_second_run_reuses_the_same_bytes(tmp_path):
    first = tls.host_certificate(tmp_path, "h1", ["h1", "10.0.0.5"])
    before = (first.files.cert.read_bytes(), first.files.key.read_bytes())
    again = tls.host_certificate(tmp_path, "h1", ["10.0.0.5", "H1."])  # same names, other spelling
    assert again.reason is None
    assert (again.files.cert.read_bytes(), again.files.key.read_bytes()) == before


def test_a_changed_name_list_reissues_from_the_same_ca(tmp_path):
    first = tls.host_certificate(tmp_path, "h1", ["h1"])
    old = first.files.cert.read_bytes()
    ca = tls.ca_files(tmp_path).cert.read_bytes()
    changed = tls.host_certificate(tmp_path, "h1", ["h1", "asr.example.com"])
    assert changed.reason == "its names changed (it had h1)"
    assert changed.files.cert.read_bytes() != old
    assert subject_alt_names(changed.files.cert) == (["asr.example.com", "h1"], [])
    assert tls.ca_files(tmp_path).cert.read_bytes() == ca


def test_near_expiry_a_foreign_ca_or_a_mismatched_key_reissue(tmp_path):
    issued = tls.host_certificate(tmp_path, "h1", ["h1"])
    later = datetime.datetime.now(datetime.timezone.utc) + tls.CERTIFICATE_LIFETIME - datetime.timedelta(days=10)
    assert tls.host_certificate(tmp_path, "h1", ["h1"], now=later).reason.startswith("it expires on ")
    other = tls.host_certificate(tmp_path / "other", "h1", ["h1"])
    issued.files.key.write_bytes(other.files.key.read_bytes())
    assert tls.host_certificate(tmp_path, "h1", ["h1"]).reason == "its key does not match the certificate"
    issued.files.cert.write_bytes(other.files.cert.read_bytes())  # a matching pair, another CA's
    issued.files.key.write_bytes(other.files.key.read_bytes())
    assert tls.host_certificate(tmp_path, "h1", ["h1"]).reason == "it is not signed by the fleet CA"


def test_keys_are_0600_and_the_directories_0700(tmp_path):
    tls_dir = tmp_path / "tls"
    issued = tls.host_certificate(tls_dir, "h1", ["h1"])
    ca = tls.ca_files(tls_dir)
    assert mode(issued.files.key) == 0o600 and mode(ca.key) == 0o600
    assert mode(issued.files.cert) == 0o644 and mode(ca.cert) == 0o644
    assert mode(tls_dir) == 0o700 and mode(ca.key.parent) == 0o700 and mode(issued.files.key.parent) == 0o700
    assert b"BEGIN PRIVATE KEY" in issued.files.key.read_bytes()


def test_hosts_prepared_at_once_share_one_ca(tmp_path):
    with ThreadPoolExecutor(max_workers=8) as pool:
        issued = list(pool.map(lambda name: tls.host_certificate(tmp_path, name, [name]),
                               [f"h{index}" for index in range(8)]))
    ca = x509.load_pem_x509_certificate(tls.ca_files(tmp_path).cert.read_bytes())
    for each in issued:
        x509.load_pem_x509_certificate(each.files.cert.read_bytes()).verify_directly_issued_by(ca)
    leftovers = [path.name for path in tmp_path.iterdir() if path.name not in ("ca", "hosts")]
    leftovers += [path.name for path in (tmp_path / "hosts").iterdir() if path.is_file()]
    assert leftovers == []  # no staging directory, no lock file


def test_a_tls_directory_others_can_open_is_refused(tmp_path):
    from funasr_fleet.errors import DeployError

    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    with pytest.raises(DeployError, match=r"shared is open to other users \(mode 755\) .*chmod 700 it"):
        tls.host_certificate(shared, "h1", ["h1"])
    assert list(shared.iterdir()) == []


@pytest.mark.parametrize("value, expected", [
    ("Lab-1.", "lab-1"), ("10.0.0.5", "10.0.0.5"), ("2001:DB8:0::5", "2001:db8::5"), ("asr_1", "asr_1")])
def test_san_names_are_canonical(value, expected):
    assert san_name(value) == expected


@pytest.mark.parametrize("value", ["https://asr.example.com", "asr:10095", "*.example.com", "10.0.0.256",
                                   "-bad", "fe80::1%eth0", "", 5])
def test_san_names_refuse_what_a_certificate_cannot_hold(value):
    with pytest.raises(ValueError, match="is not a DNS name or an IP address"):
        san_name(value)


def test_the_probe_trusts_the_fleet_ca_and_checks_the_name(tmp_path):
    settings = generated(tmp_path)
    policy = tls_policy(settings)
    assert policy.cafile == str(tmp_path / "tls" / "ca" / "ca.crt")
    assert policy.verify is True and policy.pin_sha256 is None
    assert settings.instances[0].probe_url == "wss://h1:10095"
    assert "h1" in settings.tls_sans


def test_the_release_ships_the_issued_pair_with_the_key_hidden_and_0600(tmp_path):
    from pyinfra.api import HiddenValue

    settings = generated(tmp_path, ssh_hostname="192.0.2.9")
    fake = FakeHost({})
    with ctx_host.use(fake):
        certificate = server_certificate(settings)
        again = server_certificate(settings)
    assert fake.logs == ["TLS: new certificate from the fleet CA (no certificate yet): h1, 192.0.2.9"]
    files, _ = release_files(settings, [], certificate)
    by_path = {path: (content, file_mode) for path, content, file_mode in files}
    key, key_mode = by_path["/opt/funasr/ssl/server.key"]
    assert isinstance(key, HiddenValue) and key_mode == "600"
    assert key.unmask() == certificate.key.read_bytes()
    assert by_path["/opt/funasr/ssl/server.crt"] == (certificate.cert.read_bytes(), "644")
    assert ipaddress.ip_address("192.0.2.9") in [
        entry.value for entry in x509.load_pem_x509_certificate(certificate.cert.read_bytes())
        .extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        if isinstance(entry, x509.IPAddress)]
    assert release_files(settings, [], again)[1] == release_files(settings, [], certificate)[1]


def test_with_a_load_balancer_the_servers_certificates_hold_its_names_too(tmp_path):
    from funasr_fleet.balancer import fleet_balancer
    from funasr_fleet.settings import load_settings
    from helpers import make_inventory

    inventory = make_inventory([("asr-1", {"funasr_tls_dir": str(tmp_path / "tls")}),
                                ("lb1", {"ssh_hostname": "203.0.113.7"})],
                               groups={"lb": (["lb1"], {})})
    settings = load_settings(inventory.get_host("asr-1"))
    with ctx_host.use(FakeHost({})):
        certificate = server_certificate(settings, fleet_balancer(inventory, settings))
    names = certificate_names(x509.load_pem_x509_certificate(certificate.cert.read_bytes()))
    assert {"asr-1", "lb1", "203.0.113.7"} <= set(names)


def tls_tree(root):
    if not root.exists():
        return None
    return {str(path.relative_to(root)): (path.stat().st_mode, path.read_bytes() if path.is_file() else None)
            for path in sorted(root.rglob("*"))}


@pytest.mark.parametrize("change, reason", [
    ("none", None),
    ("names", "its names changed (it had h1)"),
    ("expiry", "it expires on "),
    ("new ca", "it is not signed by the fleet CA"),
    ("no host files", "no certificate yet"),
])
def test_a_plan_gives_the_reason_the_real_run_gives_and_writes_nothing(tmp_path, change, reason):
    import shutil

    tls_dir = tmp_path / "tls"
    tls.host_certificate(tls_dir, "h1", ["h1"])
    names, now = ["h1"], None
    if change == "names":
        names = ["h1", "asr.example.com"]
    elif change == "expiry":
        now = datetime.datetime.now(datetime.timezone.utc) + tls.CERTIFICATE_LIFETIME - datetime.timedelta(days=10)
    elif change == "new ca":
        shutil.rmtree(tls_dir / "ca")
    elif change == "no host files":
        shutil.rmtree(tls_dir / "hosts")
    before = tls_tree(tls_dir)
    planned = tls.plan_host_certificate(tls_dir, "h1", names, now=now)
    assert tls_tree(tls_dir) == before
    if reason is None:
        assert planned == tls.host_files(tls_dir, "h1")
    else:
        assert planned.reason.startswith(reason) and planned.new_ca == (change == "new ca")
        assert planned.files == tls.host_files(tls_dir, "h1")
    real = tls.host_certificate(tls_dir, "h1", names, now=now)
    assert real.reason == (planned.reason if reason else None)
