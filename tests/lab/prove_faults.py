"""
Show that each fault-table row's lab test fails when the behaviour it claims is switched
off (breaks.py), on one lab: the lab is brought up fresh and converged once, then each
row's test runs with its switch (it must fail), and the lab is converged again with every
behaviour on before the next row. Prints a Markdown table; exit 1 if a test passed with
its behaviour off (that test does not prove its claim).

    make prove-faults                                   # every row
    .venv/bin/python tests/lab/prove_faults.py drain    # the rows of one switch

The same tests pass with every behaviour on: that is `make test`.
"""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LAB = REPO / "tests" / "lab"
LOGS = Path(os.environ.get("FUNASR_LAB_DIR", REPO / ".lab")) / "prove-faults"

# (fault-table row, the lab test that claims it (after those it needs, space-separated),
# the switch that turns the behaviour off)
PROOFS = [
    ("a host unreachable at the start", "test_faults.py::test_a_host_unreachable_at_the_start_does_not_stop_the_others",
     "unreachable-stops-rollout"),
    ("SSH cut in the middle of a run", "test_faults.py::test_ssh_cut_mid_run_stops_the_rollout_and_loses_nothing",
     "stop-after-failure"),
    ("SSH cut while models are staged",
     "test_models.py::test_ssh_cut_while_models_are_staged_leaves_the_live_models_and_a_rerun_completes",
     "stop-after-failure"),
    ("docker daemon restarted on a host",
     "test_faults.py::test_the_server_keeps_running_through_a_docker_restart", "live-restore"),
    ("server container crashed",
     "test_faults.py::test_a_crashed_server_is_restarted_by_docker_and_a_removed_one_by_the_converge",
     "restart-policy"),
    ("server container removed or stopped",
     "test_faults.py::test_a_crashed_server_is_restarted_by_docker_and_a_removed_one_by_the_converge",
     "recreate"),
    ("disk full while docker loads the image",
     "test_faults.py::test_a_full_disk_while_loading_the_image_stops_the_rollout_and_keeps_every_server",
     "stop-after-failure"),
    ("Ctrl-C mid-run", "test_faults.py::test_ctrl_c_mid_rollout_then_rerun_completes", "drain"),
    ("a release that fails its probe",  # (the first test puts the lab on v2)
     "test_upgrade.py::test_v1_to_v2_the_canary_is_upgraded_and_probed_before_any_other_host_changes "
     "test_upgrade.py::test_v2_to_failing_v3_rolls_the_canary_back_and_stops_then_fixed_v3_completes", "rollback"),
    ("a server that exits at start",
     "test_faults.py::test_a_server_that_exits_at_start_fails_its_gate_with_its_own_log_line", "server-words"),
    ("a daemon.json with which Docker does not start",
     "test_engine_safety.py::test_docker_that_does_not_come_back_fails_the_canary_only_with_its_previous_daemon_json",
     "daemon-json-restore"),
    ("a host reboot", "test_hardening.py::test_a_rebooted_host_comes_back_by_itself_with_its_firewall_before_docker",
     "restart-policy"),
    ("a docker unit left failed", "test_engine_safety.py::test_a_failed_docker_unit_is_healed_by_the_next_run",
     "reset-failed"),
    ("a firewall that drops the control node's probe",
     "test_hardening.py::test_firewall_admits_listed_sources_only_and_leaves_dockers_rules", "firewall-check"),
    ("an upgrade under streaming clients",
     "test_zero_downtime.py::test_a_client_streaming_through_the_balancer_sees_no_failed_session_during_an_upgrade",
     "drain"),
    ("a Docker engine change under streaming clients",
     "test_zero_downtime.py::test_a_daemon_json_change_restarts_docker_wave_by_wave_under_live_sessions",
     "live-restore"),
]


def pytest(*args, env=None):
    """Run pytest on the lab tests (the running lab kept and reused)."""
    env = {**os.environ, "FUNASR_LAB_KEEP": "1", "FUNASR_LAB_REUSE": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "pytest", "-m", "lab", "-q", "-x", "-p", "no:cacheprovider",
                           *args], cwd=REPO, env=env, capture_output=True, text=True)


def converge():
    """Every behaviour on, no host data: the lab as the converge test leaves it."""
    (Path(os.environ.get("FUNASR_LAB_DIR", REPO / ".lab")) / "host_data.json").unlink(missing_ok=True)
    for _ in range(2):  # a broken run may need one run to heal, then one to settle
        run = subprocess.run([str(Path(sys.executable).with_name("pyinfra")), "-y", "inventory/lab.py",
                              "deploy.py"], cwd=REPO, capture_output=True, text=True)
    return run.returncode == 0


def main(only=()):
    rows = [proof for proof in PROOFS if not only or proof[2] in only]
    subprocess.run([sys.executable, "-m", "funasr_fleet.lab", "up", "--hosts", "4", "--lb-hosts", "1", "--fresh"],
                   cwd=REPO, check=True)
    setup = pytest(str(LAB / "test_converge.py"))
    if setup.returncode != 0:
        sys.exit(f"the lab did not converge:\n{setup.stdout[-3000:]}")
    shutil.rmtree(LOGS, ignore_errors=True)
    LOGS.mkdir(parents=True)
    print(f"(each run's output: {LOGS})")
    print("| fault | test | FUNASR_LAB_BREAK | result with the behaviour off |\n|---|---|---|---|")
    proven = True
    for row, test, switch in rows:
        started = time.monotonic()
        broken = pytest(*(str(LAB / node) for node in test.split()), env={"FUNASR_LAB_BREAK": switch})
        failed = broken.returncode == 1
        proven &= failed
        reason = next((line[1:].strip() for line in broken.stdout.splitlines() if line.startswith("E ")), "")[:120]
        (LOGS / f"{len(list(LOGS.iterdir())) + 1:02d}-{switch}.log").write_text(broken.stdout + broken.stderr)
        verdict = f"fails ({reason})" if failed else f"PASSES: does not prove it (exit {broken.returncode})"
        print(f"| {row} | `{test.split()[-1].split('::')[1]}` | `{switch}` | {verdict}, {time.monotonic() - started:.0f} s |",
              flush=True)
        if not converge():
            sys.exit("the lab did not converge again after that row; `make lab` and re-run")
    sys.exit(0 if proven else 1)


if __name__ == "__main__":
    main(sys.argv[1:])
