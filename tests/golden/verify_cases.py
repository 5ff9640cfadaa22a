"""Every verify check's judge on the healthy VM's real outputs (tests/fixtures/verify/healthy-vm.json)
and on the broken outputs an admin may meet, each in its command's real format; the verdicts are a
golden file (tests/golden/verify-verdicts.txt), reviewed by eye once."""

from __future__ import annotations

import json

from aimachine.verify import checks as v
from aimachine.verify import judges
from tests.conftest import FIXTURES
from tests.harness.real_outputs import body, printed, record_vm

Out = judges.Output
SMI = "NVIDIA GeForce RTX 5060 Ti, 16311 MiB, 580.95.05\n"
HELD = printed("dpkg-query.status.held-package.debian12.txt",  # `ufw hold ok installed`
               "dpkg-query -W -f='${Package} ${Status}\\n' 'ufw*'", 1)
DUAL_STACK = Out(0, body("ss-ltnH.dualstack-wildcard.iproute2-6.1.txt"))  # Ollama on `*:11434`
REFUSED = Out(255, "", "ssh: connect to host 10.0.0.140 port 22: Connection refused\n")
CASES: dict[str, dict[str, Out]] = {
    "ping": {"all lost (real, exit 1)": Out(1, body("ping.no-replies.iputils20221126.txt")),
             "one of three": Out(0, "3 packets transmitted, 1 received, 66.6667% packet loss, time 2003ms\n"),
             "busybox wording": Out(0, "3 packets transmitted, 3 packets received, 0% packet loss\n"),
             "none back, exit 0": Out(0, "3 packets transmitted, 0 received, 100% packet loss\n"),
             "no summary": Out(0, "PING 10.0.0.140 (10.0.0.140) 56(84) bytes of data.\n")},
    "ssh": {"another host": Out(0, "ubuntu\n")},
    "lspci": {"another NVIDIA card": Out(0, "01:00.0 VGA compatible controller [0300]: NVIDIA Corporation "
                                            "AD102 [GeForce RTX 4090] [10de:2684] (rev a1)\n"),
              "two other NVIDIA cards": Out(0, "01:00.0 VGA [0300]: NVIDIA AD102 [10de:2684]\n"
                                                "02:00.0 VGA [0300]: NVIDIA GA102 [10de:2204]\n"),
              "no NVIDIA device": Out(0, "00:01.0 VGA compatible controller [0300]: Device [1234:1111] "
                                         "(rev 02)\n"),
              "upper-case ids": Out(0, "01:00.0 VGA compatible controller [0300]: NVIDIA Corporation Device "
                                       "[10DE:2D04] (rev a1)\n")},
    "gpu-name": {"another card": Out(0, "NVIDIA GeForce RTX 4090, 24564 MiB, 580.95.05\n"),
                 "header only": Out(0, "name, memory.total [MiB], driver_version\n"),
                 "no devices": Out(0, "No devices were found\n"),
                 "driver not loaded": Out(9, "NVIDIA-SMI has failed because it couldn't communicate with "
                                             "the NVIDIA driver. Make sure that the latest NVIDIA driver is "
                                             "installed and running. This can also happen if the driver "
                                             "is loaded for a different kernel than the one that is "
                                             "running.\n")},
    "gpu-memory": {"an 8 GB card": Out(0, "NVIDIA GeForce RTX 5060 Ti, 8151 MiB, 580.95.05\n"),
                   "exactly the minimum": Out(0, "NVIDIA GeForce RTX 5060 Ti, 15872 MiB, 580.95.05\n"),
                   "one MiB short": Out(0, "NVIDIA GeForce RTX 5060 Ti, 15871 MiB, 580.95.05\n"),
                   "a 1 GB card": Out(0, "NVIDIA GeForce RTX 5060 Ti, 1076 MiB, 580.95.05\n")},
    "driver-version": {"not available": Out(0, "NVIDIA GeForce RTX 5060 Ti, 16311 MiB, [N/A]\n"),
                       "two-part version": Out(0, "NVIDIA GeForce RTX 5060 Ti, 16311 MiB, 580.95\n"),
                       "no driver column": Out(0, "NVIDIA GeForce RTX 5060 Ti, 16311 MiB\n")},
    "driver-open": {"closed": Out(0, "nvidia-driver-580 install ok installed\n"),
                    "-open, not held": Out(0, "nvidia-driver-580-open install ok installed\n"),
                    "closed, held (real Status)": Out(0, HELD.replace("ufw", "nvidia-driver-580")),
                    "half-installed": Out(0, "nvidia-driver-580-open install ok half-installed\n"),
                    "open and closed": Out(0, "nvidia-driver-580 install ok installed\n"
                                              "nvidia-driver-580-open install ok installed\n"),
                    "removed, config left": Out(0, "nvidia-driver-580-open deinstall ok config-files\n"),
                    "none": Out(1, "", "dpkg-query: no packages found matching nvidia-driver-*\n"),
                    "one of two matched": Out(1, "nvidia-driver-580-open install ok installed\n",
                                              "dpkg-query: no packages found matching nvidia-driver-9*\n")},
    "dmesg": {"init failed": Out(0, "[  5.1] NVRM: GPU 0000:01:00.0: RmInitAdapter failed! (0x22:0x56:884)\n"
                                    "[  5.2] NVRM: Xid (PCI:0000:01:00): 79, GPU has fallen off the bus.\n"),
              "one Xid": Out(0, "[ 99.0] NVRM: Xid (PCI:0000:01:00): 13, Graphics Exception\n"),
              **{f"{what} (real)": Out(0, body(f"kernel-log.{name}.txt")) for what, name in (
                  ("RmInitAdapter failed", "rminitadapter-failed.rtx5080"),
                  ("RmInitAdapter 0x22:0x56, BIOS BAR settings", "rminitadapter-0x22-0x56.rtx5090"),
                  ("fallen off the bus", "fallen-off-the-bus.open-570"),
                  ("GSP firmware missing", "gsp-firmware-missing"))},
              "no sudo": Out(1, "", "sudo: a password is required\n")},
    "nvcc": {"12.6": Out(0, "Cuda compilation tools, release 12.6, V12.6.85\n"),
             "13.0": Out(0, "Cuda compilation tools, release 13.0, V13.0.48\n"),
             "not installed": Out(127, "", "bash: line 1: nvcc: command not found\n"),
             "no release line": Out(0, "nvcc: NVIDIA (R) Cuda compiler driver\n")},
    "vllm-venv": {"older vLLM": Out(0, "0.31.0\n"),
                  "another after an INFO line (real)": Out(0, body("vllm-version.info-log-on-stdout.txt")),
                  "not installed": Out(1, "", "Traceback (most recent call last):\nModuleNotFoundError\n")},
    "vllm-unit": {"inactive": Out(3, "inactive\n"), "failed": Out(3, "failed\n")},
    "vllm-health": {"nothing answers": Out(7, "000"), "loading": Out(0, "503"), "empty": Out(0, "")},
    # with HF_HUB_OFFLINE=1 and no --served-model-name the id may be the cache's snapshot path
    "vllm-model": {"snapshot path as the id": Out(0, json.dumps({"object": "list", "data": [
                       {"id": "/var/lib/vllm/huggingface/hub/models--Qwen--Qwen2.5-7B-Instruct-AWQ/snapshots/"
                              "b25037543e9394b818fdfca67ab2a00ecc7dd641", "object": "model"}]})),
                   "no model": Out(0, '{"object":"list","data":[]}'),
                   "an error page": Out(0, "Internal Server Error")},
    "vllm-gpu": {"only Ollama on the GPU": Out(0, "1234 0::/system.slice/ollama.service\n"),
                 "two vLLM processes": Out(0, "2417 0::/system.slice/vllm.service\n"
                                              "2418 0::/system.slice/vllm.service\n"),
                 "nothing on the GPU": Out(0, "")},
    "ollama-path": {"missing": Out(1, "")},
    "ollama-version": {"older": Out(0, "ollama version is 0.12.0\n"),
                       "no server": Out(0, "", "Warning: could not connect to a running Ollama instance\n"
                                               "Warning: client version is 0.13.5\n"),
                       "no server, older client (real)": Out(0, printed(
                           "ollama-version.server-unreachable.txt", "ollama --version")),
                       "server older than binary (real)": Out(0, printed(
                           "ollama-version.server-older-than-binary.txt", "ollama --version")),
                       "garbage": Out(0, "something else\n")},
    "ollama-list": {"model missing": Out(0, "NAME    ID    SIZE    MODIFIED\n"),
                    "tagged latest": Out(0, "NAME                  ID              SIZE      MODIFIED\n"
                                            "llama3.2:3b:latest    a80c4f17acd5    2.0 GB    now\n"),
                    "server down (real, on stderr)": Out(1, "", printed("ollama-list.server-unreachable.txt",
                                                                         "ollama list")),
                    "two models": Out(0, "NAME    ID    SIZE    MODIFIED\nllama3.2:3b    a    2 GB    now\n"
                                         "qwen2.5:7b    b    4 GB    now\n")},
    "ollama-gpu": {"CPU fallback": Out(0, 'level=INFO source=types.go:130 msg="inference compute" id=cpu '
                                          'library=cpu compute="" name=cpu description=cpu\n'),
                   "no journal line": Out(1, ""),
                   "no library field": Out(0, 'msg="inference compute" id=GPU-1 name=CUDA0\n'),
                   "CUDA after CPU": Out(0, 'msg="inference compute" library=cpu\nmsg="inference compute" '
                                            'library=CUDA description="NVIDIA GeForce RTX 5060 Ti"\n')},
    "services-not-root": {"vLLM as root": Out(0, "vllm root\nollama ollama\n"),
                          "not running": Out(0, "vllm\nollama ollama\n")},
    "listeners": {"Ollama on all addresses, dual-stack (real)": DUAL_STACK,
                  "vLLM open to the network": Out(0, "LISTEN 0 4096 0.0.0.0:8000 0.0.0.0:*\n"
                                                     "LISTEN 0 4096 127.0.0.1:11434 0.0.0.0:*\n"),
                  "Ollama missing": Out(0, "LISTEN 0 4096 127.0.0.1:8000 0.0.0.0:*\n"),
                  "open twice to the network": Out(0, "LISTEN 0 4096 0.0.0.0:8000 0.0.0.0:*\n"
                                                      "LISTEN 0 4096 [::]:8000 [::]:*\n"
                                                      "LISTEN 0 4096 127.0.0.1:8000 0.0.0.0:*\n"
                                                      "LISTEN 0 4096 127.0.0.1:11434 0.0.0.0:*\n"),
                  "another loopback address": Out(0, "LISTEN 0 4096 127.0.0.1:8000 0.0.0.0:*\n"
                                                     "LISTEN 0 4096 127.0.0.2:8000 0.0.0.0:*\n"
                                                     "LISTEN 0 4096 127.0.0.1:11434 0.0.0.0:*\n"),
                  "a short line": Out(0, "LISTEN 0 4096 127.0.0.1:8000\n"
                                         "LISTEN 0 4096 127.0.0.1:11434 0.0.0.0:*\n"),
                  "IPv6 loopback too": Out(0, "LISTEN 0 4096 127.0.0.1:8000 0.0.0.0:*\n"
                                              "LISTEN 0 4096 [::1]:8000 [::]:*\n"
                                              "LISTEN 0 4096 127.0.0.1:11434 0.0.0.0:*\n")},
}
# listeners when a service is exposed (services.*.expose: true): wider is allowed, nothing is not
EXPOSED = {"open on all addresses": Out(0, "LISTEN 0 4096 0.0.0.0:8000 0.0.0.0:*\n"),
           "closed": Out(0, "LISTEN 0 4096 127.0.0.1:11434 0.0.0.0:*\n"),
           "on loopback only (real ss)": DUAL_STACK}
LONG = Out(1, "", "x" * 200 + "\n")  # a first line over 160 characters is cut
EXACT = Out(1, "", "y" * 160 + "\n")  # one of 160 is not


def render() -> str:
    record = json.loads((FIXTURES / "verify" / "healthy-vm.json").read_text())
    vm, healthy = record_vm(record), record["outputs"]
    lines = []
    for check in v.checks_for(vm, "10.0.0.140"):
        got = healthy[check.name]
        cases = {"healthy": Out(got["rc"], got["stdout"], got["stderr"]), **CASES.get(check.name, {}),
                 "command failed": REFUSED, "no output": Out(0, "")}
        for label, out in cases.items():
            verdict = check.judge(out)
            lines.append(f"{check.name} / {label}: {_mark(verdict)} {verdict.found}"
                         + (f" [remedy: {verdict.remedy}]" if verdict.remedy else ""))
    for label, out in EXPOSED.items():
        verdict = judges.listeners(out, {"0.0.0.0:8000": True})
        lines.append(f"listeners exposed / {label}: {_mark(verdict)} {verdict.found}")
    for label, out in (("a long error line", LONG), ("an error line of 160", EXACT)):
        lines.append(f"{label}: {judges.exact_text(out, 'x').found}")
    two = judges.ollama_list(Out(0, "NAME ID SIZE MODIFIED\n"), ["llama3.2:3b", "qwen2.5:7b"])
    none = judges.ollama_list(Out(0, "NAME ID SIZE MODIFIED\n"), [])
    lines.append(f"ollama-list, two required, none there: {_mark(two)} {two.found}")
    lines.append(f"ollama-list, none required, none there: {_mark(none)} {none.found}")
    v6 = judges.listeners(Out(0, "LISTEN 0 4096 [::1]:8000 [::]:*\n"), {"[::1]:8000": False})
    lines.append(f"listeners on IPv6 loopback: {_mark(v6)} {v6.found}")
    for bind in ("0.0.0.0:11434", "[::]:11434"):  # Ollama asked on all addresses gets the dual-stack `*`
        wild = judges.listeners(DUAL_STACK, {bind: False})
        lines.append(f"listeners, {bind} asked, dual-stack (real): {_mark(wild)} {wild.found}")
    return "\n".join(lines) + "\n"


def _mark(verdict: judges.Verdict) -> str:
    """ok or FAIL; anything but a boolean would show as itself."""
    return {True: "ok  ", False: "FAIL"}.get(verdict.passed, repr(verdict.passed))
