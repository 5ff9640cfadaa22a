"""The privileges a deploy needs, per auth, PVE major version and mapping state, and how the token's own
`access/permissions` answer is read (propagation, alternatives); the results are a golden file
(tests/golden/privileges.txt), reviewed once."""

from __future__ import annotations

import dataclasses

from aimachine.catalog.schema import load_catalog
from aimachine.proxmox import privileges as p
from tests.conftest import ROOT

TREES = {
    "root of everything": {"/": {"VM.Audit": 1, "Sys.Audit": 1}},
    "granted, not propagated": {"/": {"VM.Audit": 0, "Sys.Audit": 1}},
    "a deeper entry replaces": {"/": {"VM.Audit": 1}, "/vms": {"VM.PowerMgmt": 1}},
    "on one VM only": {"/vms/140": {"VM.Audit": 1}},
    "empty entry": {"/vms": {}},
    "nothing": {},
}
PATHS = ["/", "/vms", "/vms/140", "/vms/141", "/storage/local", "/mapping/pci/rtx5060ti"]


def render() -> str:
    cat = load_catalog(ROOT / "catalog.yml")
    vm = cat.vms[0]
    root_password = dataclasses.replace(cat, proxmox=dataclasses.replace(cat.proxmox, auth="root-password"))
    shared = dataclasses.replace(vm, image="local-zfs:import/noble.qcow2", storage="local-zfs")
    colon = dataclasses.replace(vm, image="nas:iso/noble:24.04.img")  # a ':' in the file name too
    lines = []
    for label, c, v in (("api-token", cat, vm), ("root-password", root_password, vm),
                        ("api-token, image on the disk storage", cat, shared),
                        ("api-token, a ':' in the image's name", cat, colon)):
        for major in (8, 9):
            for new_mapping in (True, False):
                needs = p.needed(c, v, major, new_mapping)
                lines.append(f"## {label}, PVE {major}, {'new' if new_mapping else 'existing'} mapping: "
                             f"{len(needs)} needs")
                lines += [f"{n.text()}: {n.why}" for n in needs]
                lines.append(f"role: {' '.join(p.names(needs))}")
                lines.append("")
    for label, tree in TREES.items():
        held = "; ".join(f"{path} {sorted(p.effective(tree, path))}" for path in PATHS)
        lines.append(f"## tree: {label}\n{held}\nsees every VM: {p.sees_every_vm(tree)}")
        lines.append("missing: " + ", ".join(n.text() for n in p.missing(tree, p.needed(cat, vm)))
                     if p.missing(tree, p.needed(cat, vm)) else "missing: none")
        lines.append("")
    lines.append("## commands")
    lines.append(p.grant_command("aimachine@pve!deploy", ["VM.Audit", "Sys.Audit"]))
    lines += p.setup_commands(["VM.Audit", "Sys.Audit"])
    lines.append(f"agent privileges: 8 {p.agent_privs(8)}, 9 {p.agent_privs(9)}, 10 {p.agent_privs(10)}")
    return "\n".join(lines) + "\n"
