"""`aimachine verify --replay` on records built from real outputs: the healthy VM passes (exit 0), each
broken one fails (exit 7) on exactly the check that reads its failure; and the judges on the real
outputs themselves (tests/fixtures, each with its source)."""

from __future__ import annotations

import copy
import json
import re

import pytest

from aimachine.catalog.schema import load_catalog
from aimachine.verify import checks as v
from aimachine.verify import judges as j
from aimachine.verify.judges import Output
from tests.conftest import FIXTURES, ROOT
from tests.harness.real_outputs import body, printed, replay_verify

HEALTHY = json.loads((FIXTURES / "verify" / "healthy-vm.json").read_text())
BROKEN = json.loads((FIXTURES / "verify" / "broken-vms.json").read_text())["variants"]
HEALTHY_LOG = "kernel-log.nvidia-580-open.rtx5060ti.healthy.txt"
FAILING_LOGS = {"kernel-log.rminitadapter-failed.rtx5080.txt": "RmInitAdapter failed!",
                "kernel-log.fallen-off-the-bus.open-570.txt": "fallen off the bus",
                "kernel-log.gsp-firmware-missing.txt": "gsp_tu10x.bin failed with error -2",
                "kernel-log.rminitadapter-0x22-0x56.rtx5090.txt": "RmInitAdapter failed! (0x22:0x56:884)"}


def every_output():
    yield from (("healthy", name, out) for name, out in HEALTHY["outputs"].items())
    for variant, spec in BROKEN.items():
        yield from ((variant, name, out) for name, out in spec["outputs"].items())


@pytest.mark.parametrize(("record", "check", "out"), list(every_output()),
                         ids=[f"{r}/{c}" for r, c, _ in every_output()])
def test_every_recorded_output_names_its_source_and_a_real_one_is_the_fixture_unchanged(record, check, out):
    kind, _, where = out["source"].partition(": ")
    assert kind in ("real", "composed") and where, f"{record}/{check} does not say where it comes from"
    if kind == "real":
        fixture = re.match(r"tests/fixtures/(\S+)", where)[1]
        text = out["stdout"] or out["stderr"]
        assert text and text in body(fixture), f"{record}/{check} is not the text of {fixture}"


def replay(tmp_path, outputs: dict) -> tuple[int, dict, str]:
    record = copy.deepcopy(HEALTHY)
    record["outputs"].update(copy.deepcopy(outputs))
    result = replay_verify(tmp_path, record, "--json")
    assert "Traceback" not in result.stderr
    return result.returncode, json.loads(result.stdout), result.stderr


def test_the_healthy_record_passes_every_check(tmp_path):
    rc, report, _ = replay(tmp_path, {})
    assert rc == 0 and report["passed"]
    assert [c["name"] for c in report["checks"] if not c["passed"]] == []
    assert len(report["checks"]) == len(HEALTHY["outputs"])  # every check answered from the record


@pytest.mark.parametrize("variant", BROKEN, ids=list(BROKEN))
def test_each_broken_record_fails_its_check_by_name(tmp_path, variant):
    rc, report, stderr = replay(tmp_path, BROKEN[variant]["outputs"])
    failed = [c["name"] for c in report["checks"] if not c["passed"]]
    assert rc == 7 and failed == BROKEN[variant]["fails"]
    assert f"check(s) failed: {', '.join(failed)}" in stderr


def test_the_healthy_kernel_log_is_clean_in_dmesg_form_too():
    log = body(HEALTHY_LOG)
    # dmesg prints the same messages behind `[seconds]` where journalctl -k prints date, host and `kernel:`
    as_dmesg = re.sub(r"^\w{3} \d+ [\d:]+ \S+ kernel: ", "[    4.211954] ", log, flags=re.MULTILINE)
    assert as_dmesg != log
    for text in (log, as_dmesg):
        verdict = j.dmesg_clean(Output(0, text))
        assert verdict.passed, verdict.found
        assert "6 known benign" in verdict.found


@pytest.mark.parametrize("name", FAILING_LOGS)
def test_real_failing_kernel_logs_fail_even_beside_the_healthy_lines(name):
    for text in (body(name), body(HEALTHY_LOG) + body(name)):
        verdict = j.dmesg_clean(Output(0, text))
        assert not verdict.passed
    assert FAILING_LOGS[name] in body(name)
    first_error = next(ln.strip() for ln in body(name).splitlines() if "NVRM" in ln or "nvidia" in ln)
    assert j.dmesg_clean(Output(0, body(name))).found.startswith(first_error)


def test_the_0x22_0x56_init_failure_names_the_bios_settings_and_another_code_does_not():
    """#862: RmInitAdapter's 0x22:0x56 went away with Above 4G Decoding and Resizable BAR on; the GSP boot
    failure of #876 (0x62:0x40) is another cause and keeps the check's own remedy."""
    bar = body("kernel-log.rminitadapter-0x22-0x56.rtx5090.txt")
    bios = j.dmesg_clean(Output(0, body(HEALTHY_LOG) + bar))
    assert not bios.passed and "Above 4G Decoding and Resizable BAR" in bios.remedy and "#862" in bios.remedy
    gsp = j.dmesg_clean(Output(0, body("kernel-log.rminitadapter-failed.rtx5080.txt")))
    assert not gsp.passed and gsp.remedy == ""


def test_a_verdicts_own_remedy_replaces_the_checks_in_the_report():
    checks = [v.Check("dmesg", "sudo -n dmesg", "no NVIDIA errors", j.dmesg_clean, "the check's remedy")]
    out = Output(0, body("kernel-log.rminitadapter-0x22-0x56.rtx5090.txt"))
    report = v.run_checks(checks, lambda _: out, v.Report("vm", "10.0.0.140"))
    assert "Resizable BAR" in report.results[0].remedy


def test_a_held_driver_is_installed_and_a_closed_one_still_fails():
    held = printed("dpkg-query.status.held-package.debian12.txt",
                   "dpkg-query -W -f='${Package} ${Status}\\n' 'ufw*'", nth=1)
    assert held == "ufw hold ok installed\n"
    open_held = j.open_driver_package(Output(0, held.replace("ufw", "nvidia-driver-580-open")))
    assert open_held == j.Verdict(True, "nvidia-driver-580-open (held)")
    assert not j.open_driver_package(Output(0, held.replace("ufw", "nvidia-driver-580"))).passed
    # the half-removed states a dpkg Status can show are not installed
    for status in ("deinstall ok config-files", "deinstall ok installed", "install ok half-installed",
                   "hold reinstreq half-installed"):
        assert not j.open_driver_package(Output(0, f"nvidia-driver-580-open {status}\n")).passed


def test_a_failed_ping_reports_its_replies_not_its_banner():
    verdict = j.ping(Output(1, body("ping.no-replies.iputils20221126.txt")))
    assert verdict == j.Verdict(False, "0/3 replies")
    assert j.ping(Output(2, "", "ping: vm: Name or service not known\n")).found.startswith("exit 2: ping: vm")


def test_vllm_version_after_its_info_lines():
    verdict = j.last_line(Output(0, body("vllm-version.info-log-on-stdout.txt")), "0.7.4.dev497+ga73e183e")
    assert verdict.passed
    assert not j.last_line(Output(0, "0.32.0\nINFO something after\n"), "0.32.0").passed


def test_listeners_on_a_real_dual_stack_socket():
    ss = Output(0, body("ss-ltnH.dualstack-wildcard.iproute2-6.1.txt"))
    # Ollama bound to 0.0.0.0 listens on `*:11434`: the bind the catalog asks for, exposed or not
    assert j.listeners(ss, {"0.0.0.0:11434": True, "127.0.0.1:8000": False}).passed
    assert j.listeners(ss, {"0.0.0.0:11434": False}).passed
    assert j.listeners(ss, {"[::]:11434": False}).passed
    wrong = j.listeners(ss, {"127.0.0.1:11434": False})
    assert wrong == j.Verdict(False, "port 11434 also open on *:11434")
    assert not j.listeners(ss, {"0.0.0.0:8000": True}).passed  # exposed, but on loopback only
    assert not j.listeners(ss, {"127.0.0.1:18000": False}).passed


def test_ollama_0_32_15_outputs_are_judged_as_printed():
    """The pinned release's own outputs (tests/fixtures/*.0.32.15.txt): its CPU line fails ollama-gpu with
    the check's remedy, its CUDA line passes; the model table and the version with the server down."""
    vm = load_catalog(ROOT / "catalog.yml").vms[0]
    gpu = next(c for c in v.checks_for(vm, "10.0.0.140") if c.name == "ollama-gpu")
    start = Output(0, body("ollama-journal.start.cpu.0.32.15.txt"))
    report = v.run_checks([gpu], lambda _: start, v.Report("vm", "10.0.0.140"))
    [result] = report.results
    assert not result.passed and result.found == "library=cpu"
    assert result.remedy.startswith("Ollama fell back to the CPU")
    cuda = Output(0, body("ollama-journal.inference-compute.cuda.0.32.15.txt"))
    assert j.ollama_on_gpu(cuda) == j.Verdict(True, "library=CUDA NVIDIA GeForce RTX 5060 Ti")
    # a restart that found the GPU no more: the last start's line counts
    assert not j.ollama_on_gpu(Output(0, cuda.stdout + start.stdout)).passed
    assert j.ollama_on_gpu(Output(0, start.stdout + cuda.stdout)).passed

    listing = "ollama-list.registry-host.0.32.15.txt"
    empty, pulled = printed(listing, "ollama list"), printed(listing, "ollama list", nth=1)
    assert j.ollama_list(Output(0, empty), []).passed
    assert j.ollama_list(Output(0, empty), ["llama3.2:3b"]) == j.Verdict(False, "missing: llama3.2:3b")
    lan = "127.0.0.1:18500/library/tiny"
    assert j.ollama_list(Output(0, pulled), [lan]) == j.Verdict(True, f"1 model: {lan}:latest")
    down = printed("ollama-list.server-unreachable.0.32.15.txt", "ollama list")
    assert j.ollama_list(Output(1, down), [lan]).found == (
        "exit 1: Error: could not connect to ollama server, run 'ollama serve' to start it")

    version = "ollama-version.server-unreachable.0.32.15.txt"
    assert j.ollama_version(Output(0, printed(version, "ollama --version")), "0.32.15").passed
    assert j.ollama_version(Output(0, printed(version, "ollama --version", nth=1)), "0.32.15").passed
    assert not j.ollama_version(Output(0, printed(version, "ollama --version", nth=1)), "0.13.5").passed
