"""status --format prometheus: the rows in Prometheus's text format, parsed back."""

from prometheus_client.parser import text_string_to_metric_families

from funasr_fleet.metrics import prometheus_text

ROWS = [
    {"host": "asr-1", "instance": "funasr", "profile": "2pass", "url": "ws://asr-1:10095", "healthy": True,
     "latency_s": 0.42, "version": "0.1.13", "wanted_version": "0.1.13"},
    {"host": "asr-2", "instance": "funasr", "profile": "2pass", "url": "ws://asr-2:10095", "healthy": False,
     "latency_s": None, "version": None, "wanted_version": "0.1.13"},
]


def samples(text):
    return {(sample.name, sample.labels.get("host")): (sample.value, sample.labels)
            for family in text_string_to_metric_families(text) for sample in family.samples}


def test_up_latency_and_release_per_server():
    got = samples(prometheus_text(ROWS))
    assert got[("funasr_fleet_up", "asr-1")][0] == 1 and got[("funasr_fleet_up", "asr-2")][0] == 0
    assert got[("funasr_fleet_probe_latency_seconds", "asr-1")][0] == 0.42
    assert ("funasr_fleet_probe_latency_seconds", "asr-2") not in got  # no answer, no latency
    value, labels = got[("funasr_fleet_release_info", "asr-1")]
    assert value == 1 and labels["version"] == "0.1.13" and labels["wanted_version"] == "0.1.13"
    assert got[("funasr_fleet_release_info", "asr-2")][1]["version"] == ""


def test_the_status_command_prints_them_for_an_inventory(tmp_path):
    import subprocess
    import sys

    from helpers import free_port

    (tmp_path / "inventory.py").write_text(
        f"hosts = [('asr-1', {{'ssh_hostname': '127.0.0.1', 'ssh_port': {free_port()}, "
        f"'funasr_port': {free_port()}, 'funasr_tls': 'off'}})]\n")
    done = subprocess.run([sys.executable, "-m", "funasr_fleet", "status", "inventory.py", "--format",
                           "prometheus"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr  # the host is down
    assert samples(done.stdout)[("funasr_fleet_up", "asr-1")][0] == 0
