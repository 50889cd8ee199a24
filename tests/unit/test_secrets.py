"""Secrets (the registry password, TLS private keys) appear in no printable form of what a run generates:
commands (plain, masked, repr), operation names and arguments pyinfra shows, host log lines, Python logs."""

import logging

from pyinfra.api import Config, HiddenValue, State
from pyinfra.context import ctx_host, ctx_state

from funasr_fleet.deploys.service import release_files, server_certificate
from funasr_fleet.operations.docker import image_pulled
from funasr_fleet.operations.files import managed_paths
from funasr_fleet.settings import load_settings
from helpers import FakeHost, make_inventory

PASSWORD = "pw-0f9e8d7c-never-shown"


def printable(commands):
    """Every form pyinfra prints a command in (-v, -vv, --debug, errors)."""
    forms = []
    for command in commands:
        forms += [str(command), repr(command)]
        if hasattr(command, "get_masked_value"):
            forms.append(command.get_masked_value())
    return "\n".join(forms)


def generate(op, facts, **kwargs):
    """The commands ``op`` yields for a host with ``facts``, and that host's log lines."""
    fake = FakeHost(facts)
    with ctx_host.use(fake):
        return list(op._inner(**kwargs)), fake.logs


def settings_with_secrets(tmp_path):
    password_file = tmp_path / "registry-password"
    password_file.write_text(PASSWORD + "\n")
    password_file.chmod(0o600)
    inventory = make_inventory([("h1", {
        "funasr_registry_username": "bot", "funasr_registry_password_file": str(password_file),
        "funasr_tls": "generated", "funasr_tls_dir": str(tmp_path / "tls")})])
    return load_settings(inventory.get_host("h1"))


def secret_texts(settings, certificate):
    key_pem = certificate.key.read_text()
    body = "".join(key_pem.splitlines()[1:-1])  # the key without its PEM armour lines
    return [settings.registry_password, key_pem, body, body[:40], body[-40:]]


def test_secrets_appear_in_no_command_log_or_operation_argument(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    settings = settings_with_secrets(tmp_path)
    fake = FakeHost({})
    with ctx_host.use(fake):
        certificate = server_certificate(settings)
    secrets = secret_texts(settings, certificate)
    assert settings.registry_password == PASSWORD

    files, _ = release_files(settings, [], certificate)
    pulled, pull_logs = generate(image_pulled, {"DockerImageId": None}, image=settings.image,
                                 username=settings.funasr_registry_username,
                                 password=HiddenValue(settings.registry_password))
    written, write_logs = generate(managed_paths, {"PathStates": {}}, files=files,
                                   backup_dir="/opt/funasr/previous")
    assert pulled[0].connector_arguments["_stdin"] == PASSWORD  # it does reach docker login, on stdin
    assert any("server.key" in str(command) for command in written)  # and the key is uploaded

    # pyinfra shows an operation's arguments when it has no name: add both unnamed.
    state = State(check_for_changes=False)
    state.init(make_inventory([("h1", {})]), Config())
    host = state.inventory.get_host("h1")
    with ctx_state.use(state), ctx_host.use(host):
        image_pulled(image=settings.image, username="bot",
                     password=HiddenValue(settings.registry_password))
        managed_paths(files=files)
    shown = [f"{sorted(state.op_meta[op_hash].names)} {state.op_meta[op_hash].args}"
             for op_hash in state.get_op_order()]

    everything = "\n".join([printable(pulled), printable(written), *pull_logs, *write_logs, *fake.logs,
                            *shown, caplog.text])
    assert "*MASKED*" in "\n".join(shown)
    for secret in secrets:
        assert secret not in everything


def test_a_bad_password_file_is_reported_without_its_content(tmp_path):
    import pytest

    from funasr_fleet.errors import SettingsError

    path = tmp_path / "registry-password"
    path.write_bytes(PASSWORD.encode() + b"\xff")
    with pytest.raises(SettingsError) as error:
        load_settings(make_inventory([("h1", {"funasr_registry_password_file": str(path)})]).get_host("h1"))
    assert "not UTF-8 text" in str(error.value) and PASSWORD not in str(error.value)
