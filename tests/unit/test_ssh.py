from deploy.ssh import SshTarget


def test_ssh_command_is_batch_mode_key_only_and_bounded():
    cmd = SshTarget("127.0.0.1", "ubuntu", 2222, key_file="/k/id", known_hosts_file="/k/kh").base_command(7)
    assert cmd[0] == "ssh"
    assert "BatchMode=yes" in cmd and "ConnectTimeout=7" in cmd and "IdentitiesOnly=yes" in cmd
    assert cmd[cmd.index("-p") + 1] == "2222" and cmd[cmd.index("-i") + 1] == "/k/id"
    assert "UserKnownHostsFile=/k/kh" in cmd
