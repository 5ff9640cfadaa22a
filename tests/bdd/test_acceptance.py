"""The nine acceptance scenarios of the specification (features/*.feature), step by step.

Run them with `pytest tests/bdd/ -v -m acceptance`. In sim mode a step that only real hardware can
prove skips with "needs the lab: <what>"; it is always the last step of its scenario, so everything
before it has run and checked something.
"""

from __future__ import annotations

import json
import re

import pytest
import yaml
from pytest_bdd import given, parsers, scenarios, then, when

from aimachine.catalog.schema import load_catalog
from aimachine.configure.steps import STEPS
from aimachine.guest.drivers import choose_driver
from aimachine.rehearsal.guest import ACCEPTANCE_NET
from tests.bdd.world import (
    LAB,
    VM_NAME,
    World,
    host_state,
    needs_lab,
    throwaway_key,
    unit_starts,
    write_sim_catalog,
)
from tests.conftest import ADMIN_KEY, FIXTURES, ROOT, run_aimachine
from tests.deploy.fakehost import run_fake
from tests.deploy.ubuntu_host import fresh
from tests.harness.terraform_tools import require_tools
from tests.integration.terraform_cli import resolve_catalog_in_terraform

scenarios("features")

TEST_NETWORK = f"{ACCEPTANCE_NET.host_ip.rsplit('.', 1)[0]}.0/30"  # the test machine's side of the test host's veth
GPU_BUSY = "start failed: PCI device '0000:01:00.0' already in use by VMID '120'"


def sim_vm(world: World) -> dict:
    assert world.sim is not None
    return world.sim.vms()[140]


def api_vm_config(world: World) -> dict:
    """VM 140's configuration as Proxmox reports it (the simulator's, or the lab's through the API)."""
    if not LAB:
        return {k: str(v) for k, v in sim_vm(world)["config"].items()}
    from aimachine.proxmox.api import connect

    api = connect("verify", env=world.env())
    node = load_catalog(ROOT / "catalog.yml").proxmox.node
    return {k: str(v) for k, v in api.get(f"nodes/{node}/qemu/140/config").items()}


# ---- Background -------------------------------------------------------------------------------

@given(parsers.parse('the catalog entry "{name}"'))
def catalog_entry(world: World, name: str) -> None:
    assert name == VM_NAME
    shipped = load_catalog(ROOT / "catalog.yml")
    assert shipped.vm(name).vmid == 140
    world.notes["shipped"] = shipped
    if LAB:
        world.catalog = ROOT / "catalog.yml"


@given(parsers.parse('a Proxmox host "{node}" with the RTX 5060 Ti free for passthrough'))
def free_host(world: World, node: str, pve_sim, request) -> None:
    assert node == "android-19"
    if LAB:
        return
    world.host = request.getfixturevalue("bdd_host")
    world.catalog = write_sim_catalog(world.tmp, world.host.key, TEST_NETWORK)
    world.sim = pve_sim(_with_snippet_dir(world, host_state(world.host.address)))


def _with_snippet_dir(world: World, state: dict) -> dict:
    state["nodes"]["android-19"]["storage"]["local"]["path"] = str(world.tmp / "vz")
    return state


def _host_without_vm(world: World, pve_sim, gpu_holder_running: bool = False) -> None:
    """A simulated host for scenarios that never log into the VM (no test host needed)."""
    if world.catalog is None:
        world.catalog = write_sim_catalog(world.tmp, throwaway_key(world.tmp))
    world.sim = pve_sim(_with_snippet_dir(world, host_state("198.51.100.140", gpu_holder_running)))


# ---- Scenario 1: initial deployment ------------------------------------------------------------

@when(parsers.parse('I deploy "{name}"'))
def deploy(world: World, name: str, pve_sim) -> None:
    assert name == VM_NAME
    if not LAB and world.sim is None:
        _host_without_vm(world, pve_sim)
    world.deploy()


@then("every phase is announced and closed with its duration")
def phases_announced(world: World) -> None:
    out = world.last.stdout
    assert world.last.returncode == 0, out + world.last.stderr
    ran = ["catalog", "preflight", "cloud-init", "provision", "boot", "configure"] + (["verify"] if LAB else [])
    for n, phase in enumerate(ran, 1):
        assert f"[{n}/7] {phase}" in out and re.search(rf"\[{n}/7\] {phase} ok \(\d+\.\d s\)", out), phase
    assert re.search(r"total\s+\d", out)


@then(parsers.parse('VM {vmid:d} named "{name}" exists with {cores:d} cores, {memory:d} MB and a {disk:d} GB disk'))
def vm_exists(world: World, vmid: int, name: str, cores: int, memory: int, disk: int) -> None:
    config = api_vm_config(world)
    assert (config["name"], config["cores"], config["memory"]) == (name, str(cores), str(memory))
    disks = [v for k, v in config.items() if re.fullmatch(r"(scsi|virtio|sata)\d+", k) and "size=" in v]
    assert any(f"size={disk}G" in d for d in disks), disks
    if not LAB:
        assert sim_vm(world)["status"] == "running"


@then(parsers.parse('the VM holds the GPU through the PCI mapping "{mapping}"'))
def holds_gpu(world: World, mapping: str) -> None:
    config = api_vm_config(world)
    assert config["hostpci0"].startswith(f"mapping={mapping},pcie=1")
    assert config.get("machine") == "q35"
    if not LAB:
        maps = world.sim.state()["mappings"]["pci"][mapping]["map"]
        assert any("path=0000:01:00" in m and "id=10de:2d04" in m for m in maps)


@then(parsers.parse('the VM boots from the Ubuntu cloud image with cloud-init for user "{user}"'))
def cloud_image(world: World, user: str) -> None:
    config = api_vm_config(world)
    assert config.get("cicustom") == f"user=local:snippets/{VM_NAME}-user-data.yaml"
    if LAB:
        return
    snippet = yaml.safe_load((world.tmp / "vz/snippets" / f"{VM_NAME}-user-data.yaml").read_text())
    (account,) = [u for u in snippet["users"] if isinstance(u, dict)]
    assert account["name"] == user
    assert account["ssh_authorized_keys"] == [(world.host.key.with_suffix(".pub")).read_text().strip()]
    assert "qemu-guest-agent" in snippet["packages"]


@then("the summary names the VM's address and the next commands")
def summary(world: World) -> None:
    out = world.last.stdout
    address = json.loads((world.tmp / "state" / f"{VM_NAME}.json").read_text())["address"] if not LAB \
        else re.search(r"VM \S+ is at (\S+)\.", out).group(1)
    if not LAB:
        assert address == world.host.address
    assert f"VM {VM_NAME} is at {address}." in out
    for command in (f"ssh ubuntu@{address}", "curl http://127.0.0.1:8000/health", "ollama list"):
        assert command in out


@then("the verify phase passes on the GPU")
def verify_phase(world: World) -> None:
    needs_lab("the passed-through RTX 5060 Ti, its driver, CUDA and real models (verify)")
    assert re.search(r"\[7/7\] verify ok", world.last.stdout)


# ---- Scenario 6: idempotent re-deployment -------------------------------------------------------

@given(parsers.parse('"{name}" is already deployed'))
def already_deployed(world: World, name: str) -> None:
    first = world.deploy()
    assert first.returncode == 0, first.stdout + first.stderr
    if world.host is not None:
        world.notes["units"] = unit_starts(world.host)


@when(parsers.parse('I deploy "{name}" again'))
def deploy_again(world: World, name: str) -> None:
    world.notes["changes_before"] = len(world.sim.changes()) if world.sim else 0
    world.deploy()
    assert world.last.returncode == 0, world.last.stdout + world.last.stderr


@then("Terraform reports no changes")
def terraform_no_changes(world: World) -> None:
    assert re.search(r"provision ok \([\d.]+ s\): no changes", world.last.stdout), world.last.stdout
    if not LAB:
        assert world.sim.changes()[world.notes["changes_before"]:] == [], "the re-run changed the host"


@then("the configuration reports zero changed operations")
def configure_no_changes(world: World) -> None:
    assert re.search(r"configure ok \([\d.]+ s\): no changes \(0 changed operations\)", world.last.stdout)


@then("the services were not restarted")
def not_restarted(world: World) -> None:
    host = world.host
    if LAB:
        pytest.skip("needs the sim: the lab backend does not read unit start times yet")
    assert unit_starts(host) == world.notes["units"]


# ---- Scenario 2: GPU passthrough verification --------------------------------------------------

@given(parsers.parse('a deployed VM "{name}"'))
def deployed_vm(world: World, name: str, pve_sim) -> None:
    if not LAB:
        _host_without_vm(world, pve_sim)
    result = world.deploy()
    assert result.returncode == 0, result.stdout + result.stderr


@then(parsers.parse('the VM passes the GPU "{address}" with all its functions as a PCIe device'))
def passes_all_functions(world: World, address: str) -> None:
    config = api_vm_config(world)
    mapping = re.match(r"mapping=([^,]+),pcie=1(,|$)", config["hostpci0"])
    assert mapping, config["hostpci0"]
    if not LAB:
        (entry,) = world.sim.state()["mappings"]["pci"][mapping.group(1)]["map"]
        assert f"path={address}," in entry and not re.search(r"path=[0-9a-f:]+\.\d", entry)


@when(parsers.parse('I verify "{name}"'))
def verify(world: World, name: str) -> None:
    needs_lab("a VM with the passed-through GPU to run lspci and nvidia-smi in")
    world.aimachine("verify", name, "--json")


@then(parsers.parse('the checks "{names}" pass'))
def checks_pass(world: World, names: str) -> None:
    report = json.loads(world.last.stdout)
    passed = {c["name"] for c in report["checks"] if c["passed"]}
    assert {n.strip() for n in names.split(",")} <= passed, report


# ---- Scenario 3: the open distro driver ---------------------------------------------------------

@given(parsers.parse('the driver list "{fixture}" from the VM'))
def driver_list(world: World, fixture: str) -> None:
    world.notes["drivers"] = (FIXTURES / fixture).read_text()


@when("the driver is chosen")
def driver_chosen(world: World) -> None:
    world.notes["chosen"] = choose_driver(world.notes["drivers"])


@then(parsers.parse('the chosen package is "{package}"'))
def chosen_package(world: World, package: str) -> None:
    assert world.notes["chosen"] == package


def _fake_vm():
    return load_catalog(ROOT / "catalog.yml").vm(VM_NAME)


@then(parsers.parse('the driver is installed with "{command}"'))
def installed_with(world: World, command: str) -> None:
    vm = _fake_vm()
    run = run_fake([STEPS["nvidia"]], fresh(vm).responses(), vm=vm)
    assert not run.failed, run.error
    # the command as sent: with APT_CONFIG naming the no-Recommends file before it
    assert [c for c in run.executed if c.split(" ", 1)[-1] == command or c == command], run.executed
    world.notes["nvidia_run"] = run


@then("no reboot is needed when nouveau does not hold the card")
def no_reboot(world: World) -> None:
    run = world.notes["nvidia_run"]
    assert not [n for n in run.names if "Reboot" in n]
    assert "nvidia | Load the nvidia module" in run.changed and "nvidia | nvidia-smi sees the GPU" in run.changed


@then("nvidia-smi works on the VM")
def nvidia_smi_on_vm(world: World) -> None:
    needs_lab("the RTX 5060 Ti passed through to a VM, for nvidia-smi to see it")
    result = world.aimachine("verify", VM_NAME, "--json")
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    assert checks["gpu-name"]["passed"] and checks["driver-open"]["passed"]


# ---- Scenario 7: GPU busy or absent: clear error, no partial VM --------------------------------

@given(parsers.parse('a Proxmox host "{node}" where VM {vmid:d} "{name}" is running with the GPU'))
def busy_host(world: World, node: str, vmid: int, name: str, pve_sim) -> None:
    if LAB:
        pytest.skip("needs the simulator: tests never make a real VM hold the GPU")
    _host_without_vm(world, pve_sim, gpu_holder_running=True)
    assert world.sim.vms()[vmid]["name"] == name and world.sim.vms()[vmid]["status"] == "running"


@then(parsers.parse('the deploy stops in phase "{phase}" with exit code {code:d}'))
def stops_in_phase(world: World, phase: str, code: int) -> None:
    assert world.last.returncode == code, world.last.stdout + world.last.stderr
    assert re.search(rf"\] {re.escape(phase)} FAILED", world.last.stdout)


@then(parsers.parse('the message names the VM {vmid:d} "{name}" holding the GPU'))
def names_holder(world: World, vmid: int, name: str) -> None:
    out = world.last.stdout + world.last.stderr
    assert "FAIL gpu-free" in out and str(vmid) in out and name in out
    assert f"qm stop {vmid}" in out


@then("nothing on the Proxmox host was changed")
def nothing_changed(world: World) -> None:
    assert world.sim.changes() == []
    assert not (world.tmp / "vz/snippets").exists(), "the cloud-init snippet was written"
    assert 140 not in world.sim.vms()


@when(parsers.parse('VM {vmid:d} "{name}" is stopped while the start of the new VM still fails on the busy device'))
def holder_stopped_start_fails(world: World, vmid: int, name: str, pve_sim) -> None:
    from tests.pve_sim.fixture import stop_sim

    stop_sim(world.sim)
    state = _with_snippet_dir(world, host_state("198.51.100.140"))
    # PVE answers the start with a task, and the task fails: the provider leaves the VM it created
    state["faults"] = [{"method": "POST", "path": "/nodes/android-19/qemu/140/status/start",
                        "exitstatus": GPU_BUSY}]
    world.sim = pve_sim(state)
    assert world.sim.vms()[vmid]["status"] == "stopped"


@then("the message names the busy device and the VM holding it")
def names_device_and_holder(world: World) -> None:
    err = world.last.stderr
    assert "0000:01:00.0" in err and "VM 120 'gaming'" in err, err
    assert "rolled back: VM 140 removed" in err


@then(parsers.parse("VM {vmid:d} does not exist"))
def vm_absent(world: World, vmid: int) -> None:
    assert vmid not in world.sim.vms()


@then(parsers.parse('VM {vmid:d} "{name}" still exists'))
def vm_still_there(world: World, vmid: int, name: str) -> None:
    assert world.sim.vms()[vmid]["name"] == name


# ---- Scenarios 4 and 5: the services on a configured host ---------------------------------------

@given(parsers.parse('a configured test host for "{name}"'))
def configured_host(world: World, name: str, pve_sim, request) -> None:
    if not LAB:
        free_host(world, "android-19", pve_sim, request)
    result = world.deploy()
    assert result.returncode == 0, result.stdout + result.stderr
    address = world.host.address if world.host is not None else None
    args = ["verify", name, "--json", "--health-timeout", "120", *(["--address", address] if address else [])]
    world.aimachine(*args)
    world.notes["checks"] = {c["name"]: c for c in json.loads(world.last.stdout)["checks"]}


def _passed(world: World, *names: str) -> None:
    checks = world.notes["checks"]
    for name in names:
        assert checks[name]["passed"], checks[name]


@then("vLLM is installed in its own virtual environment at the catalog's version")
def vllm_venv(world: World) -> None:
    _passed(world, "vllm-venv")
    assert world.notes["checks"]["vllm-venv"]["found"] == world.notes["shipped"].vm(VM_NAME).services.vllm.version


@then(parsers.parse('the unit "{unit}" exists, is enabled and active, and does not run as root'))
def unit_ok(world: World, unit: str) -> None:
    service = unit.removesuffix(".service")
    _passed(world, f"{service}-unit" if service == "vllm" else f"{service}-active", "services-not-root")
    assert f"{service} as {service}" in world.notes["checks"]["services-not-root"]["found"]
    if world.host is not None:
        enabled = world.host.ssh(f"systemctl is-enabled {unit}")
        assert enabled.stdout.strip() == "enabled"


@then(parsers.parse('vLLM answers "/health" with 200 on "{bind}" only'))
def vllm_health(world: World, bind: str) -> None:
    _passed(world, "vllm-health", "listeners")
    assert bind in world.notes["checks"]["listeners"]["found"]


@then(parsers.parse('"ollama" is on the PATH and "ollama --version" prints the catalog\'s version'))
def ollama_version(world: World) -> None:
    _passed(world, "ollama-path", "ollama-version")


@then('"ollama list" answers')
def ollama_list(world: World) -> None:
    _passed(world, "ollama-list")


@then("vLLM uses the GPU")
def vllm_gpu(world: World) -> None:
    needs_lab("a GPU for vLLM to allocate (the test host's vLLM is a stand-in without CUDA)")
    _passed(world, "vllm-gpu")


@then("Ollama uses the GPU")
def ollama_gpu(world: World) -> None:
    needs_lab("a GPU for Ollama to find (its journal's library=CUDA line)")
    _passed(world, "ollama-gpu")


# ---- Scenario 8: a driver installation failure --------------------------------------------------

@given(parsers.parse('a fresh Ubuntu 24.04 VM with the RTX 5060 Ti where "{command}" fails'))
def failing_driver_host(world: World, command: str) -> None:
    vm = _fake_vm()
    host = fresh(vm)
    host.overrides[command] = {"success": False, "stderr": "E: Unable to locate package nvidia-driver-580-open"}
    world.notes.update(vm=vm, fake_host=host, failing=command)


@when("the configuration runs")
def configuration_runs(world: World, caplog) -> None:
    caplog.clear()
    vm = world.notes["vm"]
    world.notes["run"] = run_fake([STEPS["nvidia"], STEPS["cuda"], STEPS["ollama"]],
                                  world.notes["fake_host"].responses(), vm=vm)
    world.notes["log"] = caplog.text


@then("it stops at the driver step")
def stops_at_driver(world: World) -> None:
    run = world.notes["run"]
    assert run.failed
    assert run.executed[-1].endswith(" ubuntu-drivers install nvidia:580-open")


@then("the failing command's output is shown")
def output_shown(world: World) -> None:
    assert "E: Unable to locate package nvidia-driver-580-open" in world.notes["log"]


@then("no later step ran")
def no_later_step(world: World) -> None:
    run = world.notes["run"]
    failing = next(i for i, c in enumerate(run.executed)
                   if c.endswith(" ubuntu-drivers install nvidia:580-open"))
    assert run.executed[failing + 1:] == [], "commands ran after the failed install"
    assert not [n for n in run.changed if n.startswith(("cuda |", "ollama |"))]


@when("the driver installation works again")
def driver_works(world: World) -> None:
    world.notes["fake_host"].overrides.pop(world.notes["failing"])


@then("the driver step succeeds")
def driver_succeeds(world: World) -> None:
    run = world.notes["run"]
    assert not run.failed, run.error
    assert "nvidia | Install nvidia-driver-580-open (ubuntu-drivers install nvidia:580-open, no Recommends)" in run.changed


# ---- Scenario 9: catalog integration -----------------------------------------------------------

@then("the entry has the id 140, the name, 32 cores, 51200 MB RAM, a 500 GB disk, the GPU id and the image")
def entry_complete(world: World) -> None:
    vm = world.notes["shipped"].vm(VM_NAME)
    assert (vm.vmid, vm.name, vm.cores, vm.memory_mb, vm.disk_gb) == (140, VM_NAME, 32, 51200, 500)
    assert (vm.gpu.vendor_device, vm.gpu.pci_address) == ("10de:2d04", "0000:01:00")
    assert vm.image == "local:iso/noble-server-cloudimg-amd64.img"


@then("the catalog is valid YAML and passes validation")
def catalog_valid(world: World) -> None:
    assert isinstance(yaml.safe_load((ROOT / "catalog.yml").read_text()), dict)
    home = world.tmp / "home"  # as the admin's machine has it: the key the catalog names exists
    (home / ".ssh").mkdir(parents=True, exist_ok=True)
    (home / ".ssh" / "id_ed25519.pub").write_text(ADMIN_KEY)
    result = run_aimachine("catalog", "validate", "--catalog", str(ROOT / "catalog.yml"), env={"HOME": str(home)})
    assert result.returncode == 0 and f"{VM_NAME} (140)" in result.stdout


@then("Terraform reads the same catalog file")
def terraform_reads_catalog(world: World) -> None:
    hcl = (ROOT / "aimachine" / "terraform" / "catalog.tf").read_text()
    assert "yamldecode(file(var.catalog_path))" in hcl
    require_tools()
    resolved = resolve_catalog_in_terraform(world.tmp, ROOT / "catalog.yml", VM_NAME)
    vm = resolved["vm"]
    assert (vm["vmid"], vm["cores"], vm["memory_mb"], vm["disk_gb"]) == (140, 32, 51200, 500)


@when(parsers.parse('I deploy "{name}" up to provisioning'))
def deploy_to_provision(world: World, name: str, pve_sim) -> None:
    if LAB:
        world.aimachine("deploy", name, "--until", "provision")
    else:
        _host_without_vm(world, pve_sim)
        world.deploy()
    assert world.last.returncode == 0, world.last.stdout + world.last.stderr


@then("the VM on the Proxmox host has the values of the catalog entry")
def vm_matches_catalog(world: World) -> None:
    vm = world.notes["shipped"].vm(VM_NAME)
    config = api_vm_config(world)
    assert (config["name"], config["cores"], config["memory"]) == (vm.name, str(vm.cores), str(vm.memory_mb))
    assert config["cpu"] == vm.cpu and f"bridge={vm.bridge}" in config["net0"]
    assert config["hostpci0"].startswith(f"mapping={vm.gpu.mapping},pcie=1")
    assert any(f"size={vm.disk_gb}G" in v for v in config.values())

