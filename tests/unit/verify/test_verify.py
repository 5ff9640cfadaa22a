"""`aimachine verify`: pure judges on real outputs, and the whole command on recorded VMs."""

from __future__ import annotations

import copy
import json

import pytest

from aimachine.verify import judges as j
from aimachine.verify.judges import Output
from tests.conftest import FIXTURES, run_aimachine
from tests.harness.real_outputs import body, replay_verify

HEALTHY = json.loads((FIXTURES / "verify" / "healthy-vm.json").read_text())
QUERY = (FIXTURES / "nvidia-smi.query-name-memory-driver.noheader.csv").read_text()
JOURNAL = (FIXTURES / "ollama-journal.inference-compute.txt").read_text()
LSPCI = (FIXTURES / "lspci-nn.rtx5060ti.txt").read_text()


def ok(text: str) -> Output:
    return Output(0, text, "")


def test_gpu_query_parses_the_real_output():
    verdicts = [judge(Output(0, QUERY)) for judge in (j.driver_version, lambda o: j.gpu_memory(o, 15872),
                                                     lambda o: j.gpu_name(o, "NVIDIA GeForce RTX 5060 Ti"))]
    assert [v.found for v in verdicts] == ["580.95.05", "16311 MiB (15.9 GiB)", "NVIDIA GeForce RTX 5060 Ti"]
    assert all(v.passed for v in verdicts)


def test_nvidia_smi_without_its_kernel_module_names_the_module_as_the_remedy():
    # the real nvidia-smi 620.73.04 with no nvidia module loaded: exit 9, its message on stdout
    out = Output(9, body("nvidia-smi.no-driver.620.73.04.txt"))
    verdicts = (j.gpu_name(out, "NVIDIA GeForce RTX 5060 Ti"), j.gpu_memory(out, 15000),
                j.driver_version(out))
    for verdict in verdicts:
        assert not verdict.passed
        assert verdict.found.startswith("exit 9: NVIDIA-SMI has failed because it couldn't communicate")
        assert "sudo modprobe nvidia" in verdict.remedy and "uname -r" in verdict.remedy
    # another failure keeps the check's own remedy
    assert j.gpu_name(Output(127, "", "nvidia-smi: command not found"), "x").remedy == ""


def test_16311_mib_counts_as_16_gb():
    assert j.gpu_memory(ok(QUERY), 15872).passed
    assert not j.gpu_memory(ok(QUERY.replace("16311", "8151")), 15872).passed


def test_lspci_matches_on_ids_not_names():
    assert j.lspci_has(ok(LSPCI), "10de:2d04").passed
    old_names = LSPCI.replace("GB206 [GeForce RTX 5060 Ti]", "Device 2d04")
    assert j.lspci_has(ok(old_names), "10de:2d04").passed
    verdict = j.lspci_has(ok("00:02.0 VGA compatible controller [0300]: Cirrus [1013:00b8]\n"), "10de:2d04")
    assert not verdict.passed and "no NVIDIA device" in verdict.found


def test_ollama_journal_proves_cuda_and_spots_cpu_fallback():
    assert j.ollama_on_gpu(ok(JOURNAL)).passed
    cpu = JOURNAL.replace("library=CUDA", "library=cpu")
    assert not j.ollama_on_gpu(ok(cpu)).passed
    assert not j.ollama_on_gpu(ok("")).passed


def test_open_driver_package():
    assert j.open_driver_package(ok("nvidia-driver-580-open install ok installed\n")).passed
    assert not j.open_driver_package(ok("nvidia-driver-580 install ok installed\n")).passed
    both = "nvidia-driver-580 install ok installed\nnvidia-driver-580-open install ok installed\n"
    assert not j.open_driver_package(ok(both)).passed
    removed = "nvidia-driver-580-open deinstall ok config-files\n"
    assert not j.open_driver_package(ok(removed)).passed


@pytest.mark.parametrize("line", [
    "[   12.1] NVRM: GPU 0000:01:00.0: RmInitAdapter failed! (0x22:0x56:884)",
    "[  301.9] NVRM: Xid (PCI:0000:01:00): 79, pid=2417, GPU has fallen off the bus.",
    "[    4.2] nvidia 0000:01:00.0: probe with driver nvidia failed with error -1",
])
def test_dmesg_errors_are_found(line):
    verdict = j.dmesg_clean(ok(HEALTHY["outputs"]["dmesg"]["stdout"] + line + "\n"))
    assert not verdict.passed and line.split("] ", 1)[1] in verdict.found


def test_nvcc_version_threshold():
    assert j.nvcc_version(ok("Cuda compilation tools, release 12.8, V12.8.93")).passed
    assert j.nvcc_version(ok("Cuda compilation tools, release 13.0, V13.0.48")).passed
    assert not j.nvcc_version(ok("Cuda compilation tools, release 12.0, V12.0.140")).passed
    assert not j.nvcc_version(Output(127, "", "bash: nvcc: command not found")).passed


def test_health_while_loading_and_dead():
    assert j.http_status(ok("200")).passed
    assert "still be loading" in j.http_status(Output(7, "000", "")).found
    assert j.http_status(ok("503")).found == "HTTP 503"


def test_listeners_refuse_a_service_open_to_the_network():
    ss = HEALTHY["outputs"]["listeners"]["stdout"]
    binds = {"127.0.0.1:8000": False, "127.0.0.1:11434": False}
    assert j.listeners(ok(ss), binds).passed
    wide = ss.replace("127.0.0.1:8000 ", "0.0.0.0:8000   ")
    verdict = j.listeners(ok(wide), binds)
    assert not verdict.passed and "0.0.0.0:8000" in verdict.found
    assert j.listeners(ok(wide), {"127.0.0.1:8000": True, "127.0.0.1:11434": False}).passed


def test_services_as_root_fail():
    assert not j.unit_users(ok("vllm root\nollama ollama\n")).passed
    assert not j.unit_users(ok("vllm\nollama ollama\n")).passed  # not running


def verify_recording(tmp_path, mutate=None) -> tuple[int, dict]:
    rec = copy.deepcopy(HEALTHY)
    if mutate:
        mutate(rec["outputs"])
    result = replay_verify(tmp_path, rec, "--json")
    assert "Traceback" not in result.stderr
    return result.returncode, json.loads(result.stdout)


def failed_checks(report: dict) -> set[str]:
    return {c["name"] for c in report["checks"] if not c["passed"]}


def test_healthy_recording_passes(tmp_path):
    rc, report = verify_recording(tmp_path)
    assert rc == 0 and report["passed"] and not failed_checks(report)
    assert {"name", "command", "expected", "found", "passed", "remedy"} <= set(report["checks"][0])


def _set(check: str, stdout: str, rc: int = 0):
    def mutate(outputs: dict) -> None:
        outputs[check] = {"rc": rc, "stdout": stdout, "stderr": ""}
    return mutate


def _replace(checks: tuple[str, ...], old: str, new: str):
    def mutate(outputs: dict) -> None:
        for check in checks:
            assert old in outputs[check]["stdout"]
            outputs[check]["stdout"] = outputs[check]["stdout"].replace(old, new)
    return mutate


BROKEN = {
    "8 GB card": (_replace(("gpu-name", "gpu-memory", "driver-version"), "16311 MiB", "8151 MiB"),
                  {"gpu-memory"}),
    "closed driver": (_set("driver-open", "nvidia-driver-580 install ok installed\n"), {"driver-open"}),
    "vLLM 503": (_set("vllm-health", "503"), {"vllm-health"}),
    "Ollama on CPU": (_replace(("ollama-gpu",), "library=CUDA", "library=cpu"), {"ollama-gpu"}),
    "NVRM error in dmesg": (
        _set("dmesg", "[   12.1] NVRM: GPU 0000:01:00.0: RmInitAdapter failed! (0x22:0x56:884)\n"),
        {"dmesg"}),
}


@pytest.mark.parametrize("variant", BROKEN, ids=list(BROKEN))
def test_each_broken_variant_fails_the_right_check(tmp_path, variant):
    mutate, expected = BROKEN[variant]
    rc, report = verify_recording(tmp_path, mutate)
    assert rc == 7
    assert failed_checks(report) == expected
    for check in report["checks"]:
        if not check["passed"]:
            assert check["remedy"], f"{check['name']} failed without a remedy"


def test_table_names_the_failed_check_and_its_remedy(tmp_path):
    rec = copy.deepcopy(HEALTHY)
    _set("vllm-health", "503")(rec["outputs"])
    result = replay_verify(tmp_path, rec)
    assert result.returncode == 7
    assert "FAIL vllm-health" in result.stdout and "remedy:" in result.stdout
    assert "20/21 checks passed; 1 failed" in result.stdout


def test_no_address_is_a_clear_error(tmp_path):
    result = run_aimachine("verify", "vm-llm-aimachine", env={"AIMACHINE_STATE_DIR": str(tmp_path)})
    assert result.returncode == 7
    assert "no address known for vm-llm-aimachine" in result.stderr
    assert "aimachine provision vm-llm-aimachine" in result.stderr


def test_record_then_replay_gives_the_same_verdicts(tmp_path):
    again = tmp_path / "again.json"
    result = replay_verify(tmp_path, HEALTHY, "--json", "--record", str(again))
    assert result.returncode == 0
    recorded = json.loads(again.read_text())
    assert recorded["outputs"]["gpu-name"]["command"].startswith("nvidia-smi --query-gpu=")
    rerun = replay_verify(tmp_path, {**recorded, "catalog_fields": HEALTHY["catalog_fields"]}, "--json")
    assert json.loads(rerun.stdout)["checks"] == json.loads(result.stdout)["checks"]


def test_address_comes_from_the_provision_record(tmp_path):
    env = {"AIMACHINE_STATE_DIR": str(tmp_path)}
    assert run_aimachine("address", "vm-llm-aimachine", env=env).returncode == 5
    (tmp_path / "vm-llm-aimachine.json").write_text('{"address": "127.0.0.9"}')
    result = run_aimachine("address", "vm-llm-aimachine", env=env)
    assert (result.returncode, result.stdout.strip()) == (0, "127.0.0.9")
