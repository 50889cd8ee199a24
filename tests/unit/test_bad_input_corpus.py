"""
The bad-input corpus: each broken value is refused by validation (which deploy.py runs
before any operation, so no host is changed; the lab's bad-input tests show that end to
end) with a message naming the host, the key, the value, where it came from and the fix.
"""

import pytest

from funasr_fleet.errors import SettingsError
from funasr_fleet.settings import check_inventory
from helpers import make_inventory

CORPUS = [
    # (key, bad value, fragment of the fix the message must give[, other data of that host])
    ("funasr_port", -1, "must be an integer from 1 to 65535"),
    ("funasr_port", 70000, "must be an integer from 1 to 65535"),
    ("funasr_bind_address", "0.0.0.0:10095", "must be an IP address, e.g. 0.0.0.0"),
    ("funasr_dir", "opt/funasr", "must be an absolute, normalised path"),
    ("funasr_dir", "/opt/../etc", "must be an absolute, normalised path"),
    ("funasr_dir", "/", "/ is a system directory; use a directory of its own"),
    ("funasr_dir", "/opt/fun asr", "must not contain whitespace"),
    ("funasr_dir", "/etc/funasr", "/etc/funasr is a system directory"),
    ("funasr_dir", "/opt/funasr/", "must be an absolute, normalised path"),
    ("funasr_project", "FunASR", "compose project name (lowercase)"),
    ("funasr_memory_limit", "6GB", "a size like '10m', '512k' or '6g'"),
    ("funasr_cpus", "two", "a number from 0 to 1024"),
    ("funasr_restart_policy", "sometimes", "one of 'always', 'unless-stopped', 'on-failure'"),
    ("funasr_io_threads", 0, "an integer from 1 to 256"),
    ("funasr_quantize", "yes", "must be True or False"),
    ("funasr_image_delivery", "scp", "one of 'pull', 'tarball'"),
    ("funasr_image_registry", "https://registry.example", "a registry host[:port]"),
    ("funasr_image_repository", "Funasr Repo", "an image repository name"),
    ("funasr_image_tag", "bad tag", "'' or a Docker image tag"),
    ("funasr_image_tag", "funasr-runtime-sdk-online-gpu-0.1.12", "funasr_allow_unlisted_tag = True"),
    ("funasr_profile", "online-gpu", "one of '2pass', 'offline', 'offline-gpu'"),
    ("funasr_version", "latest", "an image version such as '0.1.13'"),
    ("funasr_version", "9.9.9", "use a listed version"),
    ("funasr_tls_cert", "/nonexistent/server.crt", "does not exist on the control node"),
    ("funasr_tls", "files", "set both to the certificate and key files"),
    ("funasr_hotwords", ["阿里巴巴 20"], 'write it as {"阿里巴巴": 20}'),
    ("funasr_hotwords", {"": 10}, "empty hotword phrase; remove the entry"),
    ("funasr_hotwords", {"阿里巴巴": 101}, "use an integer 1-100"),
    ("funasr_hotwords", {"阿里巴巴": "high"}, "weights are integers 1-100"),
    ("funasr_hotwords", {"阿里巴巴": 20, "阿里巴巴 ": 30}, "keep one of them"),
    ("funasr_models", {"2pass": {"vad": {"id": "iic/x"}}}, "write it as {'id': 'owner/name', 'revision'"),
    ("funasr_models", {"2pass": {"asr": {"id": "noslash", "revision": "v1"}}}, "is not a ModelScope id"),
    ("funasr_models", {"2pass": {"vad": {"id": "iic/x", "revision": "v1/../../etc"}}},
     "pin a tag or commit (e.g. 'v2.0.4': letters, digits"),
    ("funasr_models", {"2pass": {"speaker": {"id": "iic/x", "revision": "v1"}}}, "known roles: asr"),
    ("funasr_models", {"2pass": {"punc": None}}, "profile '2pass' needs models for punc"),
    ("funasr_version", "0.1.9", "use an image that loads them"),
    ("funasr_hotwords", {"小智": 30}, "cannot apply them: FunASR applies server hotwords only through",
     {"funasr_models": {"2pass": {"lm": None}}}),
    ("funasr_container_init", "yes", "must be True or False"),
    ("funasr_gpu_bladedisc", "true", "must be True or False"),
    ("funasr_gpu_batch_size", 0, "an integer from 1 to 1024"),
    ("funasr_gpu_export_timeout", 0, "a number from 1 to 7200"),
    ("funasr_models_endpoint", "ftp://mirror", "an http(s) URL of a ModelScope hub or mirror"),
    ("funasr_models_ssh_ciphers", "aes128-gcm -o ProxyCommand=x", "a comma-separated list of ssh ciphers"),
    ("docker_repo_url", "download.docker.com", "must be an http(s) URL"),
    ("docker_repo_key_fingerprint", "9dc858229fc7dd38854ae2d88d81803c0ebfcd88", "40-hex-digit uppercase"),
    ("docker_source", "snap", "one of 'distro', 'docker-repo'"),
    ("docker_log_max_file", 0, "an integer from 1 to 100"),
    ("docker_registry_mirrors", "https://mirror", "must be a list of http(s) URLs"),
    ("docker_registry_mirrors", ["not a url"], "entry 'not a url' is not an http(s) URL"),
    ("docker_registry_mirrors", ["https://mirror.example.com/?x=1"], "without user, query or fragment"),
    ("docker_data_root", "var/lib/docker", "must be an absolute, normalised path"),
    ("docker_data_root", "/var/lib", "/var/lib is a system directory"),
    ("docker_version", "27.3 latest", "a Debian package version or ''"),
    ("docker_live_restore", "on", "must be True or False"),
    ("docker_log_max_size", "1k", "from 100k to 10g"),
    ("nvidia_repo_key_fingerprint", "C95B321B", "40-hex-digit uppercase"),
    ("nvidia_toolkit_version", "1.17 8", "a Debian package version or ''"),
    ("nvidia_verify_in_container", "yes", "must be True or False"),
    ("funasr_allow_unlisted_tag", 1, "must be True or False"),
    ("funasr_registry_username", "ops team", "a user name or ''"),
    ("funasr_image_cache_dir", "/", "/ is a system directory"),
    ("funasr_models_cache_dir", "~/model cache", "must not contain whitespace"),
    ("funasr_tls_dir", "", "must be a path on the control node"),
    ("funasr_tls_key", "/nonexistent/server.key", "does not exist on the control node"),
    ("funasr_decoder_threads", 1000, "an integer from 1 to 256"),
    ("funasr_model_threads", "many", "an integer from 1 to 256"),
    ("funasr_fst_inc_wts", 500, "an integer from 0 to 100"),
    ("funasr_memory_limit", "64m", "from 256m to 4096g"),
    ("funasr_lb_group", "lb group", "an inventory group name"),
    ("funasr_lb_port", 0, "an integer from 1 to 65535"),
    ("funasr_lb_backend_address", "lb host", "a host name or address"),
    ("funasr_lb_drain_timeout", 0, "a number from 1 to 3600"),
    ("funasr_probe_address", "two words", "a host name or address"),
    ("funasr_start_timeout", -5, "a number from 1 to 3600"),
    ("nvidia_repo_url", "nvidia.github.io", "an http(s) URL"),
    ("funasr_gpus", "GPU0", "'all', a GPU count from 1 to 64"),
    ("funasr_instance_per_gpu", True, "set it only for GPU profiles"),
    ("funasr_canary", "not-a-group!", "a count of first hosts, or a group name"),
    ("funasr_waves", ["0%"], "a count >= 1 or a percentage like '25%'"),
    ("funasr_probe_ports", [10095], "a dict {service port: port the control node probes}"),
    ("funasr_probe_timeout", 0, "a number from 1 to 600"),
    ("funasr_registry_password_env", "my password", "the NAME of an environment variable"),
    ("funasr_registry_password_env", "FUNASR_FLEET_CORPUS_UNSET", "export it before running pyinfra"),
    ("funasr_prot", 10095, "did you mean 'funasr_port'"),
    ("funasr_allow_from", ["10.0.0.1/8"], "has host bits set; write the network '10.0.0.0/8'"),
    ("funasr_allow_from", ["office-lan"], "is not an IP address or network; write it like '192.0.2.7'"),
    ("funasr_allow_from", "10.0.0.0/8", "must be a list of IP addresses or networks"),
    ("funasr_tls", "self-signed", "one of 'off', 'files', 'generated'"),
    ("funasr_tls_sans", ["https://asr.example.com"], "is not a DNS name or an IP address"),
    ("funasr_tls_sans", "asr.example.com", "must be a list of DNS names or IP addresses"),
    ("funasr_registry_password_file", "/nonexistent/registry-password",
     "cannot read a password from /nonexistent/registry-password on the control node (No such file"),
    ("funasr_registry_password_file", "/", "cannot read a password from / on the control node (Is a directory"),
    ("funasr_registry_password_file", __file__, "the password must have one source: set one of them to ''",
     {"funasr_registry_password_env": "PATH"}),
]


@pytest.mark.parametrize("key, value, fix, other", [(*case, {})[:4] for case in CORPUS],
                         ids=[f"{i:02d}-{case[0]}" for i, case in enumerate(CORPUS)])
def test_bad_input_is_refused_naming_host_key_value_and_fix(key, value, fix, other):
    with pytest.raises(SettingsError) as error:
        check_inventory(make_inventory([("good", {}), ("h1", {**other, key: value})]))
    message = str(error.value)
    assert message.startswith("invalid host data, nothing was changed on any host (1 problem)")
    assert f"h1: {key} = {value!r}"[:60] in message
    assert "(from host h1 in the inventory)" in message
    assert fix in message


def test_the_corpus_has_a_case_for_every_knob_in_group_data_all_py():
    from helpers import group_data

    assert sorted(set(group_data("all")) - {case[0] for case in CORPUS}) == []


def test_the_corpus_covers_at_least_30_cases_and_every_kind_of_input():
    keys = {case[0] for case in CORPUS}
    assert len(CORPUS) >= 30
    assert {"funasr_hotwords", "funasr_models", "funasr_image_tag", "funasr_dir", "funasr_tls_cert",
            "funasr_prot", "funasr_allow_from", "funasr_tls_sans", "funasr_registry_password_file"} <= keys


@pytest.mark.parametrize("name, sentence", [
    ("README.md", r"bad input \((\d+) unit cases"),
    ("README.zh-CN.md", r"错误输入（(\d+) 个单元用例"),
    ("docs/faults.md", r"bad input \((\d+) unit cases"),
])
def test_the_readmes_and_the_fault_table_state_the_corpus_size(name, sentence):
    import re

    from helpers import REPO

    stated = re.search(sentence, (REPO / name).read_text(encoding="utf-8"))
    assert stated and int(stated.group(1)) == len(CORPUS), name
