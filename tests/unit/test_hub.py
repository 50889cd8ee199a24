"""The model fetcher against the stand-in hub on 127.0.0.1: once, verified, resumable."""

import json
import threading
import time

import pytest

from funasr_fleet.errors import DeployError
from funasr_fleet.hub import fetch_model, fetch_models, plan_fetch
from funasr_fleet.lab.standin_hub import StandinHub
from funasr_fleet.lab.standin_models import KINDS, StandinFile, standin_repo
from funasr_fleet.models import cache_dir_for, load_cached_model
from funasr_fleet.modelset import ModelSpec

VAD = ModelSpec("iic/speech_fsmn_vad_zh-cn-16k-common-onnx", "v2.0.4")
ASR = ModelSpec("iic/speech_paraformer-large_asr_nat-zh-cn-16k-common-vocab8404-onnx", "v2.0.4")


@pytest.fixture
def hub(tmp_path):
    server = StandinHub(size=300_000, faults_path=tmp_path / "faults.json").start()
    yield server
    server.stop()


def downloads(hub):
    return [r for r in hub.requests if r["path"].endswith("/repo")]


def test_first_fetch_downloads_each_file_once_and_verifies_it(hub, tmp_path):
    cached = fetch_model(hub.url, VAD, tmp_path / "cache")
    names = KINDS["vad"]
    assert sorted(r["query"]["FilePath"] for r in downloads(hub)) == sorted(names)
    repo = standin_repo(VAD.id, VAD.revision, 300_000)
    assert {e["path"]: e["sha256"] for e in cached.files} == {n: f.sha256 for n, f in repo.items()}
    assert load_cached_model(tmp_path / "cache", VAD).manifest_sha256 == cached.manifest_sha256


def test_a_cached_revision_costs_no_request(hub, tmp_path):
    fetch_model(hub.url, VAD, tmp_path / "cache")
    before = len(hub.requests)
    fetch_models(hub.url, [VAD, VAD], tmp_path / "cache")
    assert len(hub.requests) == before


def test_corrupted_file_is_refused_and_the_cache_keeps_what_it_had(hub, tmp_path):
    cache = tmp_path / "cache"
    fetch_model(hub.url, VAD, cache)
    good = load_cached_model(cache, VAD).manifest_sha256
    new = ModelSpec(VAD.id, "v2.0.5")
    (tmp_path / "faults.json").write_text(json.dumps({"corrupt": [f"{new.id}@v2.0.5/model_quant.onnx"]}))
    with pytest.raises(DeployError, match="sha256 mismatch for .*@v2.0.5/model_quant.onnx"):
        fetch_model(hub.url, new, cache, workers=1)
    assert not cache_dir_for(cache, new).exists()
    assert not (cache_dir_for(cache, new).with_name("v2.0.5.partial") / "model_quant.onnx").exists()
    assert load_cached_model(cache, VAD).manifest_sha256 == good


def test_an_interrupted_download_resumes_with_a_range_request_in_the_same_run(hub, tmp_path):
    key = f"{ASR.id}@{ASR.revision}/model_quant.onnx"
    (tmp_path / "faults.json").write_text(json.dumps({"cut_after": {key: 100_000}}))
    fetch_model(hub.url, ASR, tmp_path / "cache", workers=1)  # cut once, then resumed
    resumed = [r for r in downloads(hub) if r["query"]["FilePath"] == "model_quant.onnx"]
    assert resumed[0].get("cut") and resumed[0]["bytes"] == 100_000
    kept = int(resumed[1]["range"].removeprefix("bytes=").rstrip("-"))
    assert 0 < kept <= 100_000 and resumed[1]["status"] == 206
    assert resumed[1]["bytes"] == 300_000 - kept
    assert len([r for r in downloads(hub) if r["query"]["FilePath"] == "tokens.json"]) == 1


def test_nested_paths_of_a_pytorch_repo_are_fetched_into_subdirectories(hub, tmp_path):
    spec = ModelSpec("iic/speech_paraformer-large-vad-punc_asr_nat-zh-cn-16k-common-vocab8404-pytorch",
                     "v2.0.5")
    cached = fetch_model(hub.url, spec, tmp_path / "cache")
    paths = {entry["path"] for entry in cached.files}
    assert paths == set(KINDS["pytorch_asr"])
    assert (cached.directory / "example" / "asr_example.wav").is_file()
    assert (cached.directory / "fig" / "struct.png").is_file()


def test_unknown_listing_and_missing_sha256_are_clear_errors(hub, tmp_path, monkeypatch):
    with pytest.raises(DeployError, match="listing iic/x@v1 at http://127.0.0.1:[0-9]+ failed: HTTP 404"):
        fetch_model(hub.url, ModelSpec("iic/x", "v1"), tmp_path / "cache", session=_NotFound())
    monkeypatch.setattr(StandinFile, "sha256", property(lambda self: ""))
    with pytest.raises(DeployError, match="without a sha256"):
        fetch_model(hub.url, VAD, tmp_path / "cache")


def test_downloads_run_in_parallel(tmp_path):
    active, peak = [0], [0]
    lock = threading.Lock()
    original = StandinFile.read

    def slow_read(self, offset, length):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.05)
        with lock:
            active[0] -= 1
        return original(self, offset, length)

    hub = StandinHub(size=10_000).start()
    try:
        StandinFile.read = slow_read
        fetch_model(hub.url, ASR, tmp_path / "cache", workers=4)
    finally:
        StandinFile.read = original
        hub.stop()
    assert peak[0] >= 2


class _NotFound:
    def get(self, url, **kwargs):
        import requests

        response = requests.Response()
        response.status_code, response._content = 404, b'{"Code": 404, "Message": "no such model"}'
        return response


def test_fleet_model_sets_are_distinct_across_hosts_and_fetched_once(hub, tmp_path):
    from helpers import make_inventory

    from funasr_fleet.hub import fleet_model_sets

    common = {"funasr_models_endpoint": hub.url, "funasr_models_cache_dir": str(tmp_path / "cache")}
    inventory = make_inventory([("a", dict(common)), ("b", dict(common)),
                                ("c", dict(common, funasr_profile="offline", funasr_version="0.4.6"))])
    wanted = fleet_model_sets(inventory)
    specs = [spec for _, _, spec in wanted]
    assert len(specs) == len(set(specs))
    assert {endpoint for endpoint, _, _ in wanted} == {hub.url}
    for endpoint, cache, spec in wanted:
        fetch_model(endpoint, spec, cache)
    files = sum(len(load_cached_model(cache, spec).files) for _, cache, spec in wanted)
    assert len(downloads(hub)) == files


def test_fleet_model_sets_refuse_a_bad_host_before_any_download(hub, tmp_path):
    from helpers import make_inventory

    from funasr_fleet.errors import SettingsError
    from funasr_fleet.hub import fleet_model_sets

    inventory = make_inventory([("a", {"funasr_models_endpoint": hub.url}),
                                ("b", {"funasr_port": 70000})])
    with pytest.raises(SettingsError, match="funasr_port"):
        fleet_model_sets(inventory)
    assert hub.requests == []


def tree(root):
    """Every path under ``root`` with its size (None: ``root`` does not exist)."""
    if not root.exists():
        return None
    return {str(path.relative_to(root)): path.stat().st_size if path.is_file() else None
            for path in sorted(root.rglob("*"))}


def test_a_plan_lists_without_downloading_and_its_manifest_is_the_fetchs(hub, tmp_path):
    cache = tmp_path / "cache"
    plan = plan_fetch(hub.url, VAD, cache)
    assert tree(cache) is None and downloads(hub) == []
    repo = standin_repo(VAD.id, VAD.revision, 300_000)
    assert not plan.cached
    assert {entry["path"]: entry["size"] for entry in plan.files} == {n: f.size for n, f in repo.items()}
    assert plan.download_bytes == sum(f.size for f in repo.values())
    cached = fetch_model(hub.url, VAD, cache)
    assert (plan.model.manifest_sha256, plan.model.files) == (cached.manifest_sha256, cached.files)
    again = plan_fetch(hub.url, VAD, cache)
    assert again.cached and again.files == () and again.model == cached


def test_a_download_cut_every_time_fails_after_the_retries_and_the_next_run_resumes(hub, tmp_path,
                                                                                    monkeypatch):
    from funasr_fleet import hub as hub_client

    monkeypatch.setattr(hub_client, "RETRY_BACKOFF", 0.01)
    key = f"{ASR.id}@{ASR.revision}/model_quant.onnx"
    cuts = {key: 20_000}
    (tmp_path / "faults.json").write_text(json.dumps({"cut_after": cuts}))
    real = hub_client._fetch_once

    def cut_again(*args):  # the stand-in cuts a key once: arm it again before every try
        hub.cuts_done.discard(key)
        return real(*args)
    monkeypatch.setattr(hub_client, "_fetch_once", cut_again)
    with pytest.raises(DeployError, match=rf"downloading {ASR.id}@{ASR.revision}/model_quant.onnx failed "
                                          rf"5 times \(.*\); run again to resume from byte \d+"):
        fetch_model(hub.url, ASR, tmp_path / "cache", workers=1)
    tries = [r for r in downloads(hub) if r["query"]["FilePath"] == "model_quant.onnx"]
    assert len(tries) == 5 and all(r.get("cut") for r in tries)


def test_a_hub_that_does_not_answer_is_tried_again_then_named_with_the_knob(tmp_path, monkeypatch):
    from funasr_fleet import hub as hub_client
    from helpers import free_port

    monkeypatch.setattr(hub_client, "RETRY_BACKOFF", 0.01)
    with pytest.raises(DeployError, match="failed 5 times .*the model hub did not answer.* point "
                                          "funasr_models_endpoint at a mirror"):
        fetch_model(f"http://127.0.0.1:{free_port()}", ASR, tmp_path / "cache", workers=1)


def test_a_plan_after_a_cut_download_counts_the_bytes_the_resume_fetches(hub, tmp_path, monkeypatch):
    from funasr_fleet import hub as hub_client

    monkeypatch.setattr(hub_client, "RETRIES", 0)  # the cut is the run's end
    cache = tmp_path / "cache"
    key = f"{ASR.id}@{ASR.revision}/model_quant.onnx"
    (tmp_path / "faults.json").write_text(json.dumps({"cut_after": {key: 100_000}}))
    with pytest.raises(DeployError):
        fetch_model(hub.url, ASR, cache, workers=1)
    before, done = tree(cache), len(downloads(hub))
    plan = plan_fetch(hub.url, ASR, cache)
    assert tree(cache) == before and len(downloads(hub)) == done
    total = sum(file.size for file in standin_repo(ASR.id, ASR.revision, 300_000).values())
    assert 0 < plan.download_bytes < total
    fetch_model(hub.url, ASR, cache, workers=1)
    assert sum(request["bytes"] for request in downloads(hub)[done:]) == plan.download_bytes
    assert {entry["path"] for entry in plan.files} == {request["query"]["FilePath"]
                                                       for request in downloads(hub)[done:]}


def test_a_plan_of_an_incomplete_cached_revision_fails_as_the_deploy_would(hub, tmp_path):
    cache = tmp_path / "cache"
    cached = fetch_model(hub.url, VAD, cache)
    (cached.directory / "am.mvn").unlink()
    with pytest.raises(DeployError, match="is missing or has the wrong size"):
        fetch_model(hub.url, VAD, cache)
    with pytest.raises(DeployError, match="is missing or has the wrong size"):
        plan_fetch(hub.url, VAD, cache)


def model_size(spec):
    return sum(file.size for file in standin_repo(spec.id, spec.revision, 300_000).values())


def test_the_final_line_says_what_was_fetched_from_the_hub_and_what_came_from_the_cache(hub, tmp_path):
    from funasr_fleet.hub import FetchTally, human_bytes

    cache, vad, asr = tmp_path / "cache", model_size(VAD), model_size(ASR)
    first = FetchTally()
    fetch_models(hub.url, [VAD], cache, tally=first)
    assert first.line() == f"models: fetched {len(KINDS['vad'])} files ({human_bytes(vad)}) from {hub.url}, " \
                           "0 B from cache"
    assert (first.files_fetched, first.bytes_fetched, first.bytes_cached) == (len(KINDS["vad"]), vad, 0)
    second = FetchTally()
    fetch_models(hub.url, [VAD, ASR], cache, tally=second)
    assert (second.files_fetched, second.bytes_fetched, second.bytes_cached) == (len(KINDS["asr"]), asr, vad)
    assert second.line() == (f"models: fetched {len(KINDS['asr'])} files ({human_bytes(asr)}) from {hub.url}, "
                             f"{human_bytes(vad)} from cache")
    third = FetchTally()
    fetch_models(hub.url, [VAD, ASR], cache, tally=third)
    assert third.line() == f"models: fetched 0 files (0 B) from {hub.url}, {human_bytes(vad + asr)} from cache"


def test_a_resumed_fetch_counts_the_bytes_it_kept_as_from_the_cache(hub, tmp_path, monkeypatch):
    from funasr_fleet import hub as hub_client
    from funasr_fleet.hub import FetchTally

    monkeypatch.setattr(hub_client, "RETRIES", 0)  # the cut is the first run's end
    key = f"{ASR.id}@{ASR.revision}/model_quant.onnx"
    (tmp_path / "faults.json").write_text(json.dumps({"cut_after": {key: 100_000}}))
    with pytest.raises(DeployError):
        fetch_model(hub.url, ASR, tmp_path / "cache", workers=1, tally=FetchTally())
    done = len(downloads(hub))
    tally = FetchTally()
    fetch_model(hub.url, ASR, tmp_path / "cache", workers=1, tally=tally)
    resumed = downloads(hub)[done:]
    assert tally.files_fetched == len(resumed)
    assert tally.bytes_fetched == sum(request["bytes"] for request in resumed)
    assert tally.bytes_cached == model_size(ASR) - tally.bytes_fetched > 100_000 - 16 * 1024


def test_a_hub_that_does_not_resume_makes_the_kept_bytes_count_as_fetched(hub, tmp_path, monkeypatch):
    from funasr_fleet import hub as hub_client
    from funasr_fleet.hub import FetchTally
    from funasr_fleet.lab import standin_hub

    monkeypatch.setattr(hub_client, "RETRY_BACKOFF", 0.01)
    monkeypatch.setattr(standin_hub, "_range_start", lambda header: None)  # Range ignored: 200
    key = f"{ASR.id}@{ASR.revision}/model_quant.onnx"
    (tmp_path / "faults.json").write_text(json.dumps({"cut_after": {key: 100_000}}))
    tally = FetchTally()
    fetch_model(hub.url, ASR, tmp_path / "cache", workers=1, tally=tally)
    # what reached the file: the cut try's bytes (less what the broken connection lost), then all
    assert model_size(ASR) < tally.bytes_fetched <= sum(request["bytes"] for request in downloads(hub))
    assert tally.bytes_cached == 0 and tally.files_fetched == len(KINDS["asr"])


def test_a_part_left_by_an_earlier_run_that_the_hub_does_not_resume_is_not_from_the_cache(hub, tmp_path,
                                                                                            monkeypatch):
    from funasr_fleet import hub as hub_client
    from funasr_fleet.hub import FetchTally
    from funasr_fleet.lab import standin_hub

    monkeypatch.setattr(hub_client, "RETRIES", 0)  # the cut is the first run's end
    key = f"{ASR.id}@{ASR.revision}/model_quant.onnx"
    (tmp_path / "faults.json").write_text(json.dumps({"cut_after": {key: 100_000}}))
    with pytest.raises(DeployError):
        fetch_model(hub.url, ASR, tmp_path / "cache", workers=1)
    monkeypatch.setattr(standin_hub, "_range_start", lambda header: None)  # now Range is ignored
    tally = FetchTally()
    fetch_model(hub.url, ASR, tmp_path / "cache", workers=1, tally=tally)
    size = standin_repo(ASR.id, ASR.revision, 300_000)["model_quant.onnx"].size
    # the other files were complete in the cache; the part was downloaded again, whole
    assert (tally.files_fetched, tally.bytes_fetched, tally.bytes_cached) == (1, size, model_size(ASR) - size)


class FakeTerminal:
    """stderr as a terminal: what was written to it."""

    def __init__(self):
        self.text = ""

    def isatty(self):
        return True

    def write(self, text):
        self.text += text

    def flush(self):
        pass


def test_each_model_downloaded_gets_a_progress_bar_on_a_terminal(hub, tmp_path, monkeypatch):
    import os

    from funasr_fleet.hub import human_bytes

    terminal = FakeTerminal()
    monkeypatch.setattr("sys.stderr", terminal)
    monkeypatch.setattr("shutil.get_terminal_size", lambda fallback: os.terminal_size((120, 40)))
    fetch_models(hub.url, [VAD, ASR], tmp_path / "cache")
    lines = terminal.text.split("\n")
    assert len(lines) == 3 and lines[2] == ""  # one finished bar line per model
    for spec, line in zip((VAD, ASR), lines):
        last = line.split("\r\033[K")[-1]
        assert last.startswith(f"{spec.id}@{spec.revision} [" + "#" * 10) and " 100% " in last, last
        assert f" {human_bytes(model_size(spec))}/{human_bytes(model_size(spec))} " in last
        assert all(len(draw) < 120 for draw in line.split("\r\033[K"))  # never wraps
    terminal.text = ""
    fetch_models(hub.url, [VAD, ASR], tmp_path / "cache")
    assert terminal.text == ""  # from the cache: no bar


def test_no_progress_bar_when_stderr_is_not_a_terminal_or_it_is_off(hub, tmp_path, capsys, monkeypatch):
    fetch_model(hub.url, VAD, tmp_path / "cache")
    assert capsys.readouterr().err == ""
    terminal = FakeTerminal()
    monkeypatch.setattr("sys.stderr", terminal)
    fetch_model(hub.url, ASR, tmp_path / "cache", progress=False)
    assert terminal.text == ""


@pytest.mark.parametrize("done, total, width, line", [
    (0, 2_000_000, 79, "iic/a@v1 [..............................]   0% 0 B/2.0 MB 0 B/s"),
    (1_000_000, 2_000_000, 79, "iic/a@v1 [###############...............]  50% 1.0 MB/2.0 MB 500.0 kB/s"),
    (2_000_000, 2_000_000, 40, "iic/a@v1 [##########] 100% 2.0 MB/2.0 MB"),
])
def test_progress_line_fits_its_width(done, total, width, line):
    from funasr_fleet.hub import progress_line

    assert progress_line("iic/a@v1", done, total, done / 2, width) == line


def test_a_long_model_name_loses_its_middle_on_a_narrow_terminal():
    from funasr_fleet.hub import progress_line

    label = "iic/speech_paraformer-large-vad-punc_asr_nat-zh-cn-16k-common-vocab8404-onnx@v2.0.4"
    line = progress_line(label, 1, 2, 0, 79)
    assert len(line) <= 79 and line.startswith("iic/speech_para")
    assert line.split(" [")[0].endswith("-onnx@v2.0.4") and "..." in line.split(" [")[0]


def test_the_deploy_logs_the_fetch_on_the_host_whose_preparation_fetched(hub, tmp_path):
    from pyinfra.context import ctx_host

    from funasr_fleet.deploys.fleet import control_node_inputs
    from funasr_fleet.settings import load_settings
    from helpers import FakeHost, make_inventory

    data = {"funasr_models_endpoint": hub.url, "funasr_models_cache_dir": str(tmp_path / "cache")}
    settings = load_settings(make_inventory([("a", data)]).get_host("a"))
    first, second = FakeHost({}), FakeHost({})
    with ctx_host.use(first):
        _, models = control_node_inputs(settings, dry=False)
    with ctx_host.use(second):
        control_node_inputs(settings, dry=False)
    files = sum(len(model.files) for model in models)
    [line] = [log for log in first.logs if log.startswith("models: ")]
    assert line.startswith(f"models: fetched {files} files (") and line.endswith(f"from {hub.url}, 0 B from cache")
    assert not [log for log in second.logs if log.startswith("models: ")]  # all from the cache: quiet


def test_models_fetch_ends_with_the_final_line(hub, tmp_path):
    import subprocess
    import sys

    from funasr_fleet.hub import human_bytes
    from funasr_fleet.models import MANIFEST

    cache = tmp_path / "cache"
    (tmp_path / "inventory.py").write_text(
        f"hosts = [('a', {{'funasr_models_endpoint': {hub.url!r}, 'funasr_models_cache_dir': {str(cache)!r}}})]\n")

    def fetch():
        done = subprocess.run([sys.executable, "-m", "funasr_fleet", "models", "fetch", "inventory.py"],
                              cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0 and done.stderr == "", done.stderr  # no bar: not a terminal
        return done.stdout.splitlines()

    lines = fetch()
    files = [path for path in cache.rglob("*") if path.is_file() and path.name != MANIFEST
             and not path.name.endswith(".lock")]
    size = sum(path.stat().st_size for path in files)
    assert lines[-1] == f"models: fetched {len(files)} files ({human_bytes(size)}) from {hub.url}, 0 B from cache"
    assert fetch()[-1] == f"models: fetched 0 files (0 B) from {hub.url}, {human_bytes(size)} from cache"
