"""Real cloud-init (Ubuntu's, from the noble image) processes the user-data the product renders, on the
Ubuntu 24.04 test host: the login user with the key and sudo, the packages, the guest agent started;
`cloud-init status` ends `done` with no error and `cloud-init schema --system` says the user-data is valid.
"""

from __future__ import annotations

import pytest
import yaml

from aimachine.guest.parsers import parse_cloud_init_status
from aimachine.proxmox.cloudinit import cloud_config
from aimachine.rehearsal.guest import ADMIN
from tests.harness.noble_host import on_host

pytestmark = pytest.mark.nspawn


def test_the_host_is_ubuntu_noble_booted_by_real_cloud_init(nspawn_host):
    host = nspawn_host
    release = dict(line.split("=", 1) for line in on_host(host, "cat /etc/os-release").split() if "=" in line)
    assert release["VERSION_CODENAME"] == "noble" and release["ID"] == "ubuntu"
    status = on_host(host, "cloud-init status --long")
    assert parse_cloud_init_status(status) == "done", status
    assert "errors: []" in status and "recoverable_errors: {}" in status, status
    assert "Valid schema user-data" in on_host(host, "sudo cloud-init schema --system 2>&1")


def test_cloud_init_applied_the_products_user_data(nspawn_host):
    host = nspawn_host
    key = (nspawn_host.key.parent / f"{nspawn_host.key.name}.pub").read_text().strip()
    applied = on_host(host, "sudo cat /var/lib/cloud/instance/user-data.txt")
    assert applied == cloud_config("vm-llm-test", ADMIN, key)
    data = yaml.safe_load(applied)
    assert on_host(host, "hostname").strip() == data["hostname"]
    assert {"adm", "sudo"} <= set(on_host(host, "id -nG").split())
    assert on_host(host, "sudo -n true; echo $?").strip() == "0"
    for package in data["packages"]:
        assert on_host(host, f"dpkg-query -W -f='${{Status}}' {package}") == "install ok installed"
    # the runcmd started the (static) guest agent; on the test host it listens on a unix socket
    assert on_host(host, "systemctl is-active qemu-guest-agent").strip() == "active"
    # lsb-release is on the image: cloud-init wrote the real suites into ubuntu.sources
    sources = on_host(host, "cat /etc/apt/sources.list.d/ubuntu.sources")
    assert "Suites: noble noble-updates noble-backports" in sources and "UNAVAILABLE" not in sources
