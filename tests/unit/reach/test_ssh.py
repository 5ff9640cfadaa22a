from aimachine.reach.ssh import SshTarget


def test_ssh_command_is_batch_mode_key_only_and_bounded():
    cmd = SshTarget("127.0.0.1", "ubuntu", 2222, key_file="/k/id", known_hosts_file="/k/kh").base_command(7)
    assert cmd[0] == "ssh"
    assert "BatchMode=yes" in cmd and "ConnectTimeout=7" in cmd and "IdentitiesOnly=yes" in cmd
    assert cmd[cmd.index("-p") + 1] == "2222" and cmd[cmd.index("-i") + 1] == "/k/id"
    assert "UserKnownHostsFile=/k/kh" in cmd


def test_forget_host_key_removes_only_that_host(tmp_path):
    import shutil
    import subprocess

    import pytest

    from aimachine.reach.ssh import forget_host_key

    if not shutil.which("ssh-keygen"):
        pytest.skip("ssh-keygen is not installed")
    key = tmp_path / "k"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    pub = key.with_suffix(".pub").read_text().split()
    known = tmp_path / "known_hosts"
    known.write_text(f"10.0.0.5 {pub[0]} {pub[1]}\n10.0.0.6 {pub[0]} {pub[1]}\n")
    forget_host_key(SshTarget("10.0.0.5", "u", known_hosts_file=str(known)))
    assert "10.0.0.5" not in known.read_text() and "10.0.0.6" in known.read_text()
