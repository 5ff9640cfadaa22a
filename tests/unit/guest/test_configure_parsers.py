"""The configuration facts' parsers, on the real outputs in tests/fixtures and on variants."""

from __future__ import annotations

import pytest

from aimachine.configure.base import unsupported_os
from aimachine.configure.launcher import select
from aimachine.guest import parsers
from aimachine.guest.firewall import locks_out, ufw_commands, wanted_ports
from tests.conftest import FIXTURES


def read(name: str) -> str:
    return (FIXTURES / name).read_text()


def test_lspci_real_output_finds_the_gpu_by_id():
    devices = parsers.parse_lspci(read("lspci-nn.rtx5060ti.txt"))
    assert [d.vendor_device for d in devices] == ["10de:2d04", "10de:22eb"]
    gpu = parsers.nvidia_gpu(devices)
    assert gpu.address == "0000:01:00.0" and gpu.is_display


def test_lspci_old_pci_ids_without_a_name_and_no_gpu():
    text = "0000:06:10.0 VGA compatible controller [0300]: NVIDIA Corporation Device [10de:2d04] (rev a1)\n"
    assert parsers.nvidia_gpu(parsers.parse_lspci(text)).address == "0000:06:10.0"
    audio_only = "01:00.1 Audio device [0403]: NVIDIA Corporation Device [10de:22eb] (rev a1)"
    assert parsers.nvidia_gpu(parsers.parse_lspci(audio_only)) is None
    assert parsers.parse_lspci("") == []


def test_smi_query_with_and_without_header():
    (gpu,) = parsers.parse_smi_query(read("nvidia-smi.query-name-memory-driver.noheader.csv"))
    assert (gpu.name, gpu.memory_mib, gpu.driver) == ("NVIDIA GeForce RTX 5060 Ti", 16311, "580.95.05")
    (gpu,) = parsers.parse_smi_query(read("nvidia-smi.query-name-memory.csv"))
    assert gpu.memory_mib == 16311 and gpu.driver is None
    failed = "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver."
    assert parsers.parse_smi_query(failed) == []


def test_ollama_version_with_and_without_server():
    assert parsers.parse_ollama_version("ollama version is 0.13.5") == "0.13.5"
    text = "Warning: could not connect to a running Ollama instance\nWarning: client version is 0.13.5"
    assert parsers.parse_ollama_version(text) == "0.13.5"
    assert parsers.parse_ollama_version("bash: ollama: command not found") is None


def test_ollama_list_and_model_names():
    text = ("NAME              ID              SIZE      MODIFIED\n"
            "llama3.1:8b       46e0c10c039e    4.9 GB    2 days ago\n")
    present = parsers.parse_ollama_list(text)
    assert present == ["llama3.1:8b"]
    assert parsers.has_model(present, "llama3.1:8b")
    assert parsers.has_model(["qwen3:latest"], "qwen3")
    assert not parsers.has_model(present, "llama3.1:70b")


def test_cloud_init_status():
    assert parsers.parse_cloud_init_status("status: running\n") == "running"
    assert parsers.parse_cloud_init_status("\nstatus: done\n") == "done"
    assert parsers.parse_cloud_init_status("") is None


def test_ufw_status_real_output_and_plan():
    status = parsers.parse_ufw_status(read("ufw-status-verbose.active.txt"))
    assert status.active and status.incoming == "deny" and status.outgoing == "allow"
    assert status.rules == ["22/tcp ALLOW IN 10.213.0.0/30"]
    assert ufw_commands(status, "10.213.0.0/30", [22]) == []
    assert ufw_commands(status, "10.213.0.0/30", [22, 8000]) == [
        "ufw allow proto tcp from 10.213.0.0/30 to any port 8000"
    ]
    inactive = parsers.parse_ufw_status("Status: inactive\n")
    assert ufw_commands(inactive, "10.0.0.0/8", [22])[-1] == "ufw --force enable"
    assert ufw_commands(None, "10.0.0.0/8", [22])[0].startswith("ufw allow")


def test_ufw_plan_closes_a_service_port_no_longer_exposed():
    status = parsers.UfwStatus(
        True,
        "deny",
        "allow",
        ["22/tcp ALLOW IN 10.0.0.0/8", "8000/tcp ALLOW IN 10.0.0.0/8", "9090/tcp ALLOW IN 10.0.0.0/8"],
    )
    assert ufw_commands(status, "10.0.0.0/8", wanted_ports(False, 8000, False, 11434)) == [
        "ufw delete allow proto tcp from 10.0.0.0/8 to any port 8000"
    ]


def test_locks_out_only_a_known_client_outside_the_network():
    assert locks_out("10.9.9.9", "192.168.0.0/24")
    assert not locks_out("192.168.0.10", "192.168.0.0/24")
    assert not locks_out("127.0.0.1", "192.168.0.0/24")  # a tunnel: ufw allows loopback
    assert not locks_out(None, "192.168.0.0/24") and not locks_out("", "192.168.0.0/24")


def test_unsupported_os_says_what_is_supported():
    ubuntu = {"name": "Ubuntu", "release_meta": {"VERSION_ID": "24.04"}}
    assert unsupported_os(ubuntu) is None
    assert "Debian 12" in unsupported_os({"name": "Debian", "release_meta": {"VERSION_ID": "12"}})
    assert "supported: Ubuntu 24.04" in unsupported_os(None)
    # jammy's Python 3.10 cannot run vLLM >= 0.20 (Requires-Python >=3.11)
    jammy = {"name": "Ubuntu", "release_meta": {"VERSION_ID": "22.04"}}
    assert "supported: Ubuntu 24.04" in unsupported_os(jammy)


def test_step_selection():
    assert select(None)[0] == "base"
    assert select("ollama,security") == ["security", "ollama"]
    import pytest

    with pytest.raises(ValueError, match="unknown configuration step nvidai"):
        select("nvidai")


def test_fact_classes_hand_their_output_to_the_parsers():
    from aimachine.configure import facts

    assert facts.PciDriver().process(["nouveau"]) == "nouveau"
    assert facts.PciDriver().process([]) is None
    (gpu,) = facts.NvidiaSmi().process(read("nvidia-smi.query-name-memory-driver.noheader.csv").splitlines())
    assert gpu.memory_mib == 16311
    pci = facts.PciDevices().process(read("lspci-nn.rtx5060ti.txt").splitlines())
    assert pci[0].address == "0000:01:00.0"
    assert facts.UfwStatus().process(read("ufw-status-verbose.active.txt").splitlines()).active
    assert facts.OllamaVersion().process(["ollama version is 0.13.5"]) == "0.13.5"
    assert facts.CloudInitStatus().process(["status: done"]) == "done"
    assert facts.SshClientAddress().process(["192.168.0.10"]) == "192.168.0.10"
    assert "nvidia-driver-580-open" in facts.UbuntuDriversDevices().process(
        read("ubuntu-drivers-devices.rtx5060ti.noble.txt").splitlines())


@pytest.mark.parametrize(("printed", "status"), [
    # the states of cloud-init's own `cloud-init status` (cloudinit/cmd/status.py, UXAppStatus)
    ("status: not started\n", "not started"),
    ("status: running\n", "running"),
    ("status: done\n", "done"),
    ("status: error\n", "error"),
    ("status: disabled\n", "disabled"),
    ("", None),
])
def test_cloud_init_states_with_spaces_are_read_whole(printed, status):
    assert parsers.parse_cloud_init_status(printed) == status
