"""The Proxmox phases of a deploy, each a function of a Run that raises PhaseError:
preflight, cloud-init, provision (Terraform, with rollback), boot. `aimachine deploy` calls them too.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

from aimachine.catalog.schema import Catalog, Vm
from aimachine.errors import PhaseError
from aimachine.phases import Echo
from aimachine.proxmox import cloudinit as ci
from aimachine.proxmox import gpu_state, paths
from aimachine.proxmox import preflight as pf
from aimachine.proxmox import privileges as privs
from aimachine.proxmox.api import Api, ApiError, connect
from aimachine.proxmox.hostfacts import HostFacts, gather
from aimachine.proxmox.messages import denied, translate
from aimachine.proxmox.ownership import holder_on
from aimachine.proxmox.rollback import rollback
from aimachine.proxmox.terraform import MAPPING_ADDRESS, VM_ADDRESS, Terraform, TerraformError, resolve_binary
from aimachine.proxmox.tfplan import Plan
from aimachine.reach import ssh, state
from aimachine.reach.address import agent_ipv4, vm_target


@dataclass
class Run:
    """What the phases share: the catalog entry, the API, a printer, and what earlier phases learnt."""
    catalog: Catalog
    vm: Vm
    echo: Echo
    verbose: bool = False
    api: Api | None = None
    facts: HostFacts | None = None
    findings: list[pf.Finding] = field(default_factory=list)
    created: bool = False  # this run created the VM: its SSH host key is new
    allow_replace: bool = False  # the admin allows a plan that destroys or replaces the VM

    @property
    def node(self) -> str:
        return self.catalog.node_of(self.vm)

    def client(self, phase: str) -> Api:
        if self.api is None:
            self.api = connect(phase)
        return self.api


def preflight(run: Run) -> None:
    """Read the host, print one line per check, raise on any FAIL. Changes nothing."""
    api = run.client("preflight")
    if run.verbose:
        run.echo(f"  endpoint {api.creds.endpoint}, token {api.creds.token_id}, node {run.node}")
    try:
        run.facts = gather(api, run.catalog, run.vm)
        run.findings = pf.judge(run.catalog, run.vm, run.facts)
    except ApiError as err:
        run.findings = [pf.api_failure(err, api.creds.endpoint, api.creds.token_id)]
    else:
        run.findings.insert(0, pf.Finding("ok", "api", f"{api.creds.endpoint} accepts token "
                                          f"{api.creds.token_id}"))
    run.findings.append(pf.check_ssh_agent(dict(os.environ), run.vm.image))
    if run.facts and not pf.failed(run.findings):
        run.findings.append(read_gpu_state(run))
    for finding in run.findings:
        run.echo(api.creds.redact(finding.line()))
    if run.verbose and run.facts:
        for what, why in sorted(run.facts.errors.items()):
            run.echo(api.creds.redact(f"  could not read {what}: {why}"))
    bad = pf.failed(run.findings)
    if bad:
        names = ", ".join(f.check for f in bad)
        raise PhaseError("preflight", f"{len(bad)} check{'s' if len(bad) != 1 else ''} failed ({names}); "
                         "nothing was changed", bad[0].remedy)


def read_gpu_state(run: Run) -> pf.Finding:
    """The card as the node sees it, read-only over the node's SSH; skipped while the VM runs with it."""
    found = holder_on(run.client("preflight"), run.vm.vmid)
    if found.exists and found.status == "running" and not found.foreign(run.vm.name):
        return pf.Finding("ok", "gpu-state", f"in use by VM {run.vm.vmid} (running): not read")
    target = ci.node_target(run.catalog, run.client("preflight").creds.endpoint)
    done = ssh.run(target, gpu_state.state_command(run.vm), timeout=30)
    level, finding, remedy = gpu_state.judge(run.vm, done.returncode, done.stdout, done.stderr)
    return pf.Finding(level, "gpu-state", finding, remedy)


def cloud_init(run: Run) -> None:
    """Render the user-data and write it to the snippets storage (only when it differs)."""
    api = run.client("provision")
    key = ci.read_public_key(run.vm)
    storage = run.catalog.proxmox.storages.snippets
    try:  # the list needs Datastore.Audit only; GET storage/{id} would need Datastore.Allocate
        config = next((s for s in api.get(paths.STORAGES) if s.get("storage") == storage), None)
    except ApiError as err:
        raise PhaseError("provision", f"cannot list the storages: {err.message}",
                         "grant the token Datastore.Audit on /storage") from None
    if config is None:
        raise PhaseError("provision", f"storage {storage} does not exist",
                         "fix proxmox.storages.snippets in the catalog (`pvesm status` lists the storages)")
    if not config.get("path"):
        raise PhaseError("provision",
                         f"storage {storage} ({config.get('type')}) has no file path for snippets",
                         "set proxmox.storages.snippets to a directory-type storage such as local")
    target = ci.node_target(run.catalog, api.creds.endpoint)
    written = ci.write_snippet(target, config["path"], ci.snippet_file(run.vm),
                               ci.render_user_data(run.vm, key))
    run.echo(f"  {ci.snippet_volume(run.catalog, run.vm)}: {'written' if written.changed else 'unchanged'}")


def terraform_for(run: Run, terraform_bin: str | None = None, phase: str = "provision") -> Terraform:
    """Terraform for this VM's workspace, its output redacted and echoed as progress."""
    api = run.client(phase)
    return Terraform(resolve_binary(terraform_bin), run.catalog.path, run.vm.name, run.echo, api.creds.redact)


def terraform_settled(run: Run, terraform_bin: str | None = None, phase: str = "provision") -> Terraform:
    """terraform_for, initialised, with the mapping decision made (what plan, apply, destroy need)."""
    tf = terraform_for(run, terraform_bin, phase)
    settle(tf, run, phase)
    return tf


def settle(tf: Terraform, run: Run, phase: str = "provision") -> None:
    tf.init()
    if run.catalog.proxmox.auth == "api-token":
        settle_mapping(run.client(phase), tf, run)


def provision(run: Run, terraform_bin: str | None = None) -> str:
    """terraform init + plan + apply of that plan; on failure roll back a VM this run created, never
    an older one. A plan that would destroy or replace the VM stops here unless run.allow_replace.

    Returns what happened: "no changes", "VM created" or "VM updated"."""
    api = run.client("provision")
    tf = terraform_for(run, terraform_bin)
    existed = holder_on(api, run.vm.vmid).exists
    try:
        settle(tf, run)
        plan = tf.plan()
        if not plan.has_changes:
            tf.discard_plan()
            run.echo(f"  {run.vm.name} matches the catalog: no changes")
            return "no changes"
        try:
            refuse_replacement(run, plan)
        except PhaseError:
            tf.discard_plan()
            raise
        tf.apply()
        run.created = not existed
        return "VM created" if run.created else "VM updated"
    except TerraformError as err:
        names = {int(v["vmid"]): v.get("name", "") for v in api.get(paths.RESOURCES, type="vm")}
        message, remedy = translate(err.output, names)
        if gpu_state.start_hang(err.output):
            stopped = state.read(run.vm.name).get("forced_stop")
            message, remedy = gpu_state.start_hang_message(run.vm.vmid, stopped)
        if existed:
            raise PhaseError("provision", f"terraform {err.command} failed: {message} "
                             f"(VM {run.vm.vmid} existed before this run and was left as it is)",
                             remedy) from None
        outcome = rollback(run, tf)
        raise PhaseError("provision", f"terraform {err.command} failed: {message}; {outcome}",
                         remedy) from None


def refuse_replacement(run: Run, plan: Plan) -> None:
    """A deploy never destroys or replaces the VM on its own: that needs --allow-replace."""
    change = plan.removing(VM_ADDRESS)
    if change is None or run.allow_replace:
        return
    forced = ", ".join(change.replace_paths) or "the VM is no longer in the configuration"
    raise PhaseError("provision", f"the plan would {change.verb()} VM {run.vm.vmid} {run.vm.name} "
                     f"(forced by: {forced}); the VM was not touched",
                     f"undo that catalog change, or re-run with --allow-replace to {change.verb()} the VM "
                     "(its disk and everything on it is lost); `aimachine plan "
                     f"{run.vm.name}` shows the plan")


def settle_mapping(api: Api, tf: Terraform, run: Run) -> None:
    """Decide whether this workspace manages the catalog's PCI mapping. It does when it created the
    mapping (it is in the state) or when none exists yet; a mapping made by hand or by another
    workspace is only used by name, so no destroy or rollback here can ever delete it. A mapping this
    workspace made that was deleted outside Terraform is forgotten and made again (the provider would
    fail its refresh on PVE's `mapping 'x' not found`)."""
    name = run.vm.gpu.mapping
    try:
        on_host = name in {m.get("id") for m in api.get(paths.PCI_MAPPINGS)}
    except ApiError as err:
        raise PhaseError("provision", f"cannot list the PCI mappings: {err.message}",
                         f"grant Mapping.Use on /mapping/pci/{name} to the token and its user") from None
    in_state = [a for a in tf.state_list() if a.split("[")[0] == MAPPING_ADDRESS]
    if in_state and not on_host:
        run.echo(f"  the PCI mapping {name} was deleted outside Terraform: creating it again")
        for address in in_state:
            tf.state_rm(address)
        in_state = []
    tf.manage_mapping = bool(in_state) or not on_host
    if not tf.manage_mapping:
        run.echo(f"  using the existing PCI mapping {name} (not managed here: never changed or deleted)")


def _stop_if_denied(run: Run, err: ApiError) -> None:
    """A 403 does not go away by waiting: stop at once, naming the privilege and how to grant it."""
    if err.status != 403:
        return
    refusal = denied(err.message)
    api = run.client("boot")
    needs = privs.needed(run.catalog, run.vm, run.facts.pve_major() if run.facts else 8)
    wanted = privs.names(needs) + ([refusal[1].split("|")[0]] if refusal else [])
    raise PhaseError("boot", f"token {api.creds.token_id} may not read VM {run.vm.vmid}'s address from the "
                     f"guest agent: {f'it lacks {refusal[1]} on {refusal[0]}' if refusal else err.message}",
                     privs.grant_command(api.creds.token_id, dict.fromkeys(wanted)))


def wait_for_address(run: Run, agent_deadline_s: float = 300) -> str:
    """The VM's address (static, or the first IPv4 its guest agent reports), echoed and recorded."""
    api, vmid, node = run.client("boot"), run.vm.vmid, run.node
    address = run.vm.static_address()
    end = time.monotonic() + agent_deadline_s
    last = ""
    while address is None:
        try:
            address = agent_ipv4(api.get(paths.agent_interfaces(node, vmid)))
        except ApiError as err:
            _stop_if_denied(run, err)
            last = err.message
        if address is None:
            if time.monotonic() > end:
                raise PhaseError("boot", f"VM {vmid} reported no IPv4 through the guest agent in "
                                 f"{agent_deadline_s:.0f} s ({last or 'no address yet'})",
                                 f"open the VM's console (`qm terminal {vmid}`) and check cloud-init and "
                                 "qemu-guest-agent, or set a static ipv4 in catalog.yml")
            time.sleep(3)
    run.echo(f"  address {address}")
    state.update(run.vm.name, address=address)  # the only thing a later run reads
    return address


def boot(run: Run, agent_deadline_s: float = 300, ssh_deadline_s: float = 300) -> str:
    """Wait for the address (agent or static) and SSH, then cloud-init; record the address."""
    address = wait_for_address(run, agent_deadline_s)
    target = vm_target(run.vm, address)
    if run.created and target.known_hosts_file:
        ssh.forget_host_key(target)
    ok, why = ssh.wait_for_ssh(target, ssh_deadline_s)
    if not ok:
        raise PhaseError("boot", f"no SSH to {target.login} within {ssh_deadline_s:.0f} s: {why}",
                         f"check that {run.vm.login.ssh_public_key_file} matches "
                         f"{run.vm.login.private_key_path()} and that the VM's network reaches you")
    waited = ssh.run(target, "cloud-init status --wait >/dev/null; cloud-init status", timeout=ssh_deadline_s)
    if "error" in waited.stdout or waited.returncode not in (0, 2):
        raise PhaseError("boot", f"cloud-init on {address} did not finish cleanly: "
                         f"{(waited.stdout or waited.stderr).strip()}",
                         f"read /var/log/cloud-init-output.log on the VM (`ssh {target.login}`)")
    run.echo(f"  ssh {target.login} ok; cloud-init done")
    if state.read(run.vm.name).get("forced_stop"):
        state.update(run.vm.name, forced_stop=None)  # the card came back
    return address
