"""Every @deploy through pyinfra's @fake connector: a fresh Ubuntu 24.04 VM with the RTX 5060 Ti gets
the expected operations in order, a converged one gets zero changes, a failing install stops the run."""

from __future__ import annotations

import dataclasses

import pytest

from aimachine.catalog.schema import load_catalog
from aimachine.configure.steps import STEPS
from tests.conftest import ROOT
from tests.deploy.fakehost import run_fake
from tests.deploy.ubuntu_host import converged, fresh

UNLOAD = "vllm | Unload Ollama's models before vLLM restarts (vLLM needs its share of the GPU free)"
RESTART = "vllm | Restart vllm for the new settings"
RESTORE = "vllm | Load Ollama's models again (vLLM serves)"
INSTALL = "nvidia | Install nvidia-driver-580-open (ubuntu-drivers install nvidia:580-open, no Recommends)"


@pytest.fixture(scope="module")
def vm():
    vm = load_catalog(ROOT / "catalog.yml").vms[0]
    ollama = dataclasses.replace(vm.services.ollama, models=["llama3.1:8b"])
    return dataclasses.replace(vm, services=dataclasses.replace(vm.services, ollama=ollama))


@pytest.mark.parametrize("step", list(STEPS))
def test_converged_host_gets_zero_changes(vm, step):
    run = run_fake([STEPS[step]], converged(vm).responses(), vm=vm)
    assert not run.failed, run.error
    assert run.changed == []


def test_converged_host_all_steps_together_zero_changes(vm):
    run = run_fake(list(STEPS.values()), converged(vm).responses(), vm=vm)
    assert not run.failed and run.changed == []


def test_fresh_host_nvidia_in_order(vm):
    run = run_fake([STEPS["nvidia"]], fresh(vm).responses(), vm=vm)
    assert not run.failed, run.error
    assert run.changed == [
        INSTALL,
        "nvidia | Confirm the signed modules linux-modules-nvidia-580-open-KERNEL for the running kernel",
        "nvidia | Hold nvidia-driver-580-open, its modules and the kernel metapackages (they move together)",
        "nvidia | Load the nvidia module",
        "nvidia | Load the nvidia_uvm module",
        "nvidia | nvidia-smi sees the GPU",
    ]
    # no X/GL Recommends on a headless VM: ubuntu-drivers reads the no-recommends file through APT_CONFIG
    assert "APT_CONFIG=/etc/apt/aimachine-no-recommends.conf ubuntu-drivers install nvidia:580-open" \
        in run.executed
    # the modules are checked for the kernel that runs then, not the one the facts saw before a reboot
    assert any('linux-modules-nvidia-580-open-$(uname -r)"' in c for c in run.executed)
    # the kernel metapackages are held with the driver: a kernel moving alone would have no nvidia.ko
    hold = next(c for c in run.executed if c.startswith("apt-mark hold "))
    assert hold.startswith("apt-mark hold nvidia-driver-580-open linux-generic linux-headers-generic "
                           "linux-image-generic ")


def test_fresh_host_every_step_in_order(vm):
    run = run_fake(list(STEPS.values()), fresh(vm).responses(), vm=vm)
    assert not run.failed, run.error
    steps_in_order = list(dict.fromkeys(name.split(" | ")[0] for name in run.changed))
    assert steps_in_order == [s for s in STEPS if s != "gateway"]  # the shipped catalog names no gateway
    changed = run.changed
    # the driver pin is written before NVIDIA's repo is added; the toolkit never pulls `cuda`
    assert changed.index("cuda | Write /etc/apt/preferences.d/aimachine-cuda-driver-pin") < changed.index(
        "cuda | Write /etc/apt/sources.list.d/nvidia-cuda.list"
    )
    # apt waits for first boot's lock: the timeout is in place before the first apt call
    first_apt = next(i for i, name in enumerate(changed) if "apt-get update" in name)
    assert changed.index("base | Write /etc/apt/apt.conf.d/80aimachine-lock-timeout") < first_apt
    # the first-boot update comes before the driver
    assert changed.index("update | First-boot update: every package, the kernel included, to the newest "
                         "(dist-upgrade)") < changed.index(INSTALL)
    assert not [c for c in run.executed if " install " in c and (" cuda " in c or "cuda-drivers" in c)]
    assert "ollama | Pull model llama3.1:8b" in changed
    assert any(c.startswith("sshd -t") for c in run.executed)
    assert (
        "ufw --force enable" in run.executed
        and "ufw allow proto tcp from 192.168.0.0/24 to any port 22" in run.executed
    )


def test_nouveau_holding_the_card_reboots_and_says_why(vm):
    host = fresh(vm)
    host.pci_driver = "nouveau"
    run = run_fake([STEPS["nvidia"]], host.responses(), vm=vm)
    reboot = [n for n in run.names if "Reboot" in n]
    assert reboot == [
        "nvidia | Reboot: nouveau holds the GPU at 0000:01:00.0; nvidia can load only after a reboot"
    ]
    assert not [n for n in run.names if "modprobe" in n or "Load the" in n]


def test_failing_ubuntu_drivers_install_stops_with_its_output(vm, caplog):
    host = fresh(vm)
    host.overrides["ubuntu-drivers install"] = {
        "success": False,
        "stderr": "E: Unable to locate package nvidia-driver-580-open",
    }
    run = run_fake([STEPS["nvidia"], STEPS["cuda"]], host.responses(), vm=vm)
    assert run.failed
    assert run.executed[-1].endswith(" ubuntu-drivers install nvidia:580-open")  # nothing ran after it
    assert "E: Unable to locate package nvidia-driver-580-open" in caplog.text


def test_no_acceptable_driver_stops_listing_the_offer(vm):
    host = fresh(vm)
    host.overrides["ubuntu-drivers devices"] = "driver   : nvidia-driver-580 - distro non-free recommended"
    run = run_fake([STEPS["nvidia"]], host.responses(), vm=vm)
    assert run.failed
    assert [n for n in run.names if n.startswith("nvidia | Stop: ubuntu-drivers offers no -open")]


def test_admin_outside_the_admin_network_is_not_locked_out(vm):
    host = fresh(vm)
    host.overrides["SSH_CLIENT"] = "10.9.9.9"
    run = run_fake([STEPS["security"]], host.responses(), vm=vm)
    assert run.failed
    why = "connects from 10.9.9.9, which firewall.admin_network 192.168.0.0/24 does not include"
    assert [n for n in run.names if why in n]
    assert not [c for c in run.executed if c.startswith("ufw ")]


def test_cuda_repository_is_added_by_its_key_fingerprint_with_no_checksum_to_supply(vm):
    run = run_fake([STEPS["cuda"]], fresh(vm).responses(), vm=vm)
    assert not run.failed, run.error
    assert "cuda | Add NVIDIA's CUDA repository key (fingerprint EB693B3035CD5710E231E123A4B469963BF863CC)" \
        in run.changed
    add = next(c for c in run.executed if "3bf863cc.pub" in c)
    assert "gpg --show-keys --with-colons" in add and "EB693B3035CD5710E231E123A4B469963BF863CC" in add
    assert not [c for c in run.executed if "cuda-keyring" in c and "dpkg -i" in c]


def test_first_boot_update_reboots_when_the_kernel_asks_then_waits_for_cloud_init(vm):
    host = fresh(vm)
    host.reboot_required = True  # the upgrade brought a kernel: Ubuntu's postinst wrote the flag
    run = run_fake([STEPS["update"], STEPS["nvidia"]], host.responses(), vm=vm)
    assert not run.failed, run.error
    assert run.changed[:3] == [
        "update | First-boot update: every package, the kernel included, to the newest (dist-upgrade)",
        "update | Reboot into the updated kernel (/var/run/reboot-required), before the driver is installed",
        "update | Wait for cloud-init after the reboot",
    ]
    assert run.changed[3].startswith("nvidia | Install nvidia-driver-580-open")
    upgrade = run.executed.index(next(c for c in run.executed if "dist-upgrade" in c))
    reboot = run.executed.index(next(c for c in run.executed if "systemctl reboot" in c))
    install = run.executed.index(next(c for c in run.executed if "ubuntu-drivers install" in c))
    assert upgrade < reboot < install


def test_no_reboot_when_the_update_brought_no_kernel(vm):
    run = run_fake([STEPS["update"]], fresh(vm).responses(), vm=vm)
    assert run.changed == [
        "update | First-boot update: every package, the kernel included, to the newest (dist-upgrade)"]
    assert not [c for c in run.executed if "reboot" in c and "test -e" not in c]


def test_a_converged_vm_is_never_rebooted_by_a_rerun(vm):
    host = converged(vm)
    host.reboot_required = True  # e.g. unattended-upgrades updated libc: the admin schedules that reboot
    run = run_fake([STEPS["update"]], host.responses(), vm=vm)
    assert not run.failed and run.changed == [] and not [c for c in run.executed if "reboot" in c]


def test_cloud_init_in_error_is_not_a_change_on_every_run(vm):
    host = converged(vm)
    host.overrides["cloud-init status"] = "status: error"
    run = run_fake([STEPS["base"]], host.responses(), vm=vm)
    assert not run.failed and run.changed == []


def test_vllm_comes_from_one_index_only(vm):
    """vLLM's torch pin must come from vLLM's own index: an extra one would win with a `+cu129` build."""
    run = run_fake([STEPS["vllm"]], fresh(vm).responses(), vm=vm)
    pip = [c for c in run.executed if "/bin/pip install" in c]
    assert pip == ["/opt/vllm/venv/bin/pip install --no-input --index-url https://pypi.org/simple "
                   "vllm==0.32.0"]


def test_a_cuda_12_torch_left_by_the_old_extra_index_is_replaced_once(vm):
    """torch==2.13.0 is satisfied by 2.13.0+cu129, so pip would keep it: the step replaces it, restarts vLLM,
    and a torch built for CUDA 13 (plain, or tagged +cu130) is left alone."""
    host = converged(vm)
    host.torch_version = "2.13.0+cu129"
    run = run_fake([STEPS["vllm"]], host.responses(), vm=vm)
    assert run.changed == ["vllm | Replace torch 2.13.0+cu129 with 2.13.0 from https://pypi.org/simple "
                           "(vLLM needs its CUDA)", UNLOAD, RESTART, RESTORE]
    assert ("/opt/vllm/venv/bin/pip install --no-input --index-url https://pypi.org/simple --force-reinstall "
            "--no-deps torch==2.13.0") in run.executed
    host.torch_version = "2.13.0+cu130"
    assert run_fake([STEPS["vllm"]], host.responses(), vm=vm).changed == []


def test_a_local_vllm_version_is_read_as_installed(vm):
    """pyinfra's PipPackages cannot read `0.33.0+cu130`; the venv's importlib.metadata can."""
    local = dataclasses.replace(vm, services=dataclasses.replace(
        vm.services, vllm=dataclasses.replace(vm.services.vllm, version="0.33.0+cu130")))
    host = converged(local)
    host.files = [f for f in host.files if not f.path.endswith("vllm.service")]  # rendered for 0.32.0's model
    run = run_fake([STEPS["vllm"]], host.responses(), vm=local)
    assert not [n for n in run.changed if "vLLM 0.33.0+cu130 in" in n]


def test_a_newer_branch_in_the_archive_does_not_swap_the_installed_driver(vm):
    host = converged(vm)
    host.overrides["ubuntu-drivers devices"] = (
        "driver   : nvidia-driver-595-open - distro non-free recommended\n"
        "driver   : nvidia-driver-580-open - distro non-free\n")
    run = run_fake([STEPS["nvidia"]], host.responses(), vm=vm)
    assert not run.failed and run.changed == []


def test_the_model_download_starts_before_the_driver_and_is_awaited_just_before_vllm_starts(vm):
    run = run_fake(list(STEPS.values()), fresh(vm).responses(), vm=vm)
    assert not run.failed, run.error
    changed = run.changed
    start = f"models | Start fetching {vm.services.vllm.model} in the background (aimachine-models.service)"
    wait = next(n for n in changed if n.startswith("vllm | Wait for the download of "))
    assert changed.index(start) < changed.index(INSTALL)  # the driver installs while it downloads
    assert changed.index(wait) == changed.index("vllm | Write /etc/systemd/system/vllm.service") - 1
    assert "models | Write /etc/aimachine/models.json" in changed
    assert any(c.endswith("systemctl start aimachine-models.service") for c in run.executed)


def test_vllm_alone_starts_the_download_it_waits_for(vm):
    """`--steps vllm` on a VM without the model: the vllm step writes and starts the fetcher itself."""
    host = converged(vm)
    host.model_fetched = False
    run = run_fake([STEPS["vllm"]], host.responses(), vm=vm, steps="vllm")
    assert not run.failed, run.error
    assert [n for n in run.changed if "Start fetching" in n or "Wait for the download" in n] == [
        f"vllm | Start fetching {vm.services.vllm.model} in the background (aimachine-models.service)",
        f"vllm | Wait for the download of {vm.services.vllm.model} (in the background since the models step)"]


def test_a_complete_model_adds_no_operation(vm):
    run = run_fake([STEPS["models"]], converged(vm).responses(), vm=vm)
    assert not run.failed, run.error
    assert run.names == []


def test_a_changed_vllm_unit_restarts_vllm_with_ollamas_models_unloaded_first_and_restored_after(vm):
    """vLLM's V1 worker needs total x gpu_memory_utilization free at start (vllm-project/vllm#20305:
    "Free memory on device ... is less than desired GPU memory utilization"): Ollama lets go first."""
    host = converged(vm)
    host.files = [f for f in host.files if not f.path.endswith("vllm.service")]  # the unit differs
    run = run_fake([STEPS["vllm"]], host.responses(), vm=vm)
    assert not run.failed, run.error
    assert run.changed == [
        "vllm | Write /etc/systemd/system/vllm.service",
        "vllm | systemctl daemon-reload",
        UNLOAD,
        "vllm | Restart vllm for the new settings",
        RESTORE,
    ]
    unload = next(i for i, c in enumerate(run.executed) if "/usr/local/bin/ollama stop" in c)
    restart = next(i for i, c in enumerate(run.executed) if c.endswith("systemctl restart vllm.service"))
    restore = next(i for i, c in enumerate(run.executed) if "/api/generate" in c)
    assert unload < restart < restore


def test_a_first_start_and_a_no_op_run_leave_ollama_alone(vm):
    fresh_run = run_fake([STEPS["vllm"]], fresh(vm).responses(), vm=vm)
    noop = run_fake([STEPS["vllm"]], converged(vm).responses(), vm=vm)
    for run in (fresh_run, noop):
        assert not run.failed, run.error
        assert not [c for c in run.executed if "ollama" in c], run.executed
    assert "vllm | vllm enabled and running" in fresh_run.changed and noop.changed == []


def test_without_ollama_a_vllm_restart_touches_no_ollama(vm):
    alone = dataclasses.replace(vm, services=dataclasses.replace(
        vm.services, ollama=dataclasses.replace(vm.services.ollama, enabled=False)))
    host = converged(alone)
    host.files = [f for f in host.files if not f.path.endswith("vllm.service")]
    run = run_fake([STEPS["vllm"]], host.responses(), vm=alone)
    assert "vllm | Restart vllm for the new settings" in run.changed
    assert not [c for c in run.executed if "ollama" in c]


def test_a_vm_behind_a_gateway_admits_the_gateways_vm_to_its_engines_and_a_rerun_changes_nothing():
    """tests/golden/gateway-catalog.yml: vm-llm-second is fronted by the gateway on vm-llm-aimachine
    (192.168.0.140); its firewall gets the engines' ports from that address only, once."""
    from tests.golden import gateway_catalog

    fronted = gateway_catalog().vm("vm-llm-second")
    run = run_fake([STEPS["security"]], fresh(fronted).responses(), vm=fronted)
    assert not run.failed, run.error
    assert {"ufw allow proto tcp from 192.168.0.140/32 to any port 8000",
            "ufw allow proto tcp from 192.168.0.140/32 to any port 11434"} <= set(run.executed)
    assert not [c for c in run.executed if c.startswith("ufw allow") and "192.168.0.0/24" in c
                and not c.endswith("port 22")]
    host = converged(fronted)
    assert run_fake([STEPS["security"]], host.responses(), vm=fronted).changed  # the rules are missing
    host.ufw += ("8000/tcp                   ALLOW IN    192.168.0.140\n"  # as ufw prints a /32
                 "11434/tcp                  ALLOW IN    192.168.0.140\n")
    again = run_fake([STEPS["security"]], host.responses(), vm=fronted)
    assert not again.failed and again.changed == []
