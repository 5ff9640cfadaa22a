"""The parsers and the firewall plan on real outputs whose source each fixture names (`# SOURCE:`)."""

from __future__ import annotations

import re

import pytest

from aimachine.guest import parsers
from aimachine.guest.firewall import ufw_commands, ufw_source
from tests.harness.real_outputs import body, printed, source, transcript

HOST32 = "ufw-status-verbose.host32-normalised-v6.ufw0.36.2.txt"
ANYWHERE = "ufw-status-verbose.anywhere-and-host32.ufw0.36.2.txt"
_ALLOW = re.compile(r"ufw allow proto tcp from (\S+) to any port (\d+)")


@pytest.mark.parametrize("name", [HOST32, ANYWHERE])
def test_ufw_prints_each_allowed_source_the_way_ufw_source_says(name):
    """Each `ufw allow proto tcp from NET to any port P` of the capture shows in the status that follows
    as `P/tcp ALLOW IN ufw_source(NET)`: /32 dropped, host bits cleared, 0.0.0.0/0 as Anywhere."""
    allowed = [_ALLOW.fullmatch(cmd) for cmd, _ in transcript(name) if _ALLOW.fullmatch(cmd)]
    if name == ANYWHERE:  # its source line holds the commands; the body holds only the status
        allowed = list(_ALLOW.finditer(source(name)))
    status = parsers.parse_ufw_status(printed(name, "ufw status verbose"))
    shown = {(r.port, r.source) for r in status.port_rules}
    assert allowed and all((m[2], ufw_source(m[1])) in shown for m in allowed)
    assert {ufw_source(m[1]) for m in allowed} >= ({"Anywhere", "192.168.0.10"} if name == ANYWHERE
                                                   else {"10.0.0.5", "192.168.1.0/24", "10.213.0.0/30"})


def test_ufw_rows_are_read_with_their_ipv6_twins_and_policies():
    status = parsers.parse_ufw_status(printed(HOST32, "ufw status verbose"))
    assert status.active and (status.incoming, status.outgoing) == ("deny", "allow")
    assert status.port_rules[-1] == parsers.UfwRule("22", "tcp", "ALLOW", "Anywhere", v6=True)
    assert [r.source for r in status.port_rules] == ["10.213.0.0/30", "10.0.0.5", "192.168.1.0/24",
                                                     "Anywhere", "Anywhere"]
    plain = parsers.parse_ufw_status(printed(HOST32, "ufw status"))  # no verbose: `ALLOW` without `IN`
    assert plain.port_rules == status.port_rules
    assert parsers.parse_ufw_rule("OpenSSH ALLOW IN Anywhere") is None
    assert parsers.parse_ufw_rule("22/tcp ALLOW IN 10.0.0.0/8 # ssh").source == "10.0.0.0/8"


def test_a_single_address_rule_is_seen_as_present():
    """The admin network 10.0.0.5/32 on port 8000: ufw shows `10.0.0.5`, and nothing is added again."""
    status = parsers.parse_ufw_status(printed(HOST32, "ufw status verbose"))
    plan = ufw_commands(status, "10.0.0.5/32", [22, 8000])
    assert "ufw allow proto tcp from 10.0.0.5/32 to any port 8000" not in plan
    assert plan[0] == "ufw allow proto tcp from 10.0.0.5/32 to any port 22"  # allowed before any delete


def test_rules_the_catalog_no_longer_asks_for_are_deleted_as_ufw_names_them():
    # after the capture's delete: SSH from 10.213.0.0/30 and from anywhere (IPv4 and v6), 11434 from
    # 192.168.1.0/24. The catalog asks for SSH from 10.213.0.0/30 only.
    status = parsers.parse_ufw_status(printed(HOST32, "ufw status verbose", nth=1))
    assert ufw_commands(status, "10.213.0.0/30", [22]) == [
        "ufw delete allow proto tcp from 192.168.1.0/24 to any port 11434",
        "ufw delete allow proto tcp from 0.0.0.0/0 to any port 22",
    ]  # the (v6) twin and ports the step does not manage are the admin's
    assert ufw_commands(status, "10.213.0.0/30", [22], managed_ports=()) == [
        "ufw delete allow proto tcp from 0.0.0.0/0 to any port 22"]
    # the capture deleted its /32 rule by the catalog's own spelling, which ufw matched
    (deleted,) = [cmd for cmd, _ in transcript(HOST32) if cmd.startswith("ufw delete")]
    assert deleted == "ufw delete allow proto tcp from 10.0.0.5/32 to any port 8000"
    assert "Rule deleted" in printed(HOST32, deleted)


def test_an_admin_network_of_anywhere_matches_ufws_anywhere():
    status = parsers.parse_ufw_status(body(ANYWHERE).split("$ ufw status verbose\n", 1)[1])
    assert ufw_commands(status, "0.0.0.0/0", [22, 11434]) == [
        "ufw allow proto tcp from 0.0.0.0/0 to any port 11434",
        "ufw delete allow proto tcp from 192.168.0.10 to any port 11434"]
    assert ufw_commands(status, "192.168.0.10/32", [22, 11434]) == [
        "ufw allow proto tcp from 192.168.0.10/32 to any port 22",
        "ufw delete allow proto tcp from 0.0.0.0/0 to any port 22"]


def test_ss_dual_stack_wildcard_and_ping_summary():
    assert parsers.parse_ss_listening(body("ss-ltnH.dualstack-wildcard.iproute2-6.1.txt")) == [
        "0.0.0.0:18000", "127.0.0.1:8000", "*:11434"]
    assert parsers.parse_ping_summary(body("ping.no-replies.iputils20221126.txt")) == (3, 0)
    assert parsers.parse_ping_summary("PING 10.0.0.140 (10.0.0.140) 56(84) bytes of data.\n") is None


def test_ollama_cli_wording_from_real_reports():
    assert parsers.parse_ollama_version(printed("ollama-version.server-older-than-binary.txt",
                                                "ollama --version")) == "0.1.31"  # the server's
    assert parsers.parse_ollama_version(printed("ollama-version.server-unreachable.txt",
                                                "ollama --version")) == "0.3.4"  # the client's
    present = parsers.parse_ollama_list(printed("ollama-list.two-tags.txt", "ollama list"))
    assert present == ["llama3:8b", "llama3:latest"]
    assert parsers.has_model(present, "llama3") and not parsers.has_model(present, "llama3:70b")


def test_held_packages_and_cloud_init_from_real_captures():
    held = "dpkg-query.status.held-package.debian12.txt"
    assert parsers.parse_showhold(printed(held, "apt-mark showhold")) == {"ufw"}
    assert parsers.parse_showhold(printed(held, "apt-mark hold ufw")) == set()  # "ufw set on hold."
    assert parsers.parse_cloud_init_status(body("cloud-init-status.degraded-done.long.txt")) == "done"


def test_ollama_0_32_15_cli_wording_and_a_registry_of_ones_own():
    """The pinned release's own outputs (captured: tests/fixtures/*.0.32.15.txt)."""
    version = "ollama-version.server-unreachable.0.32.15.txt"
    assert parsers.parse_ollama_version(printed(version, "ollama --version")) == "0.32.15"  # server up
    down = printed(version, "ollama --version", nth=1)
    assert down.splitlines()[0] == "Warning: could not connect to a running Ollama instance"
    assert parsers.parse_ollama_version(down) == "0.32.15"  # the client's
    listing = "ollama-list.registry-host.0.32.15.txt"
    empty = printed(listing, "ollama list")
    assert empty == "NAME    ID    SIZE    MODIFIED \n"  # the header ends in a space
    assert parsers.parse_ollama_list(empty) == [] and parsers.parse_ollama_sizes(empty) == {}
    pulled = printed(listing, "ollama list", nth=1)
    present = parsers.parse_ollama_list(pulled)
    assert present == ["127.0.0.1:18500/library/tiny:latest"]
    assert parsers.parse_ollama_sizes(pulled) == {"127.0.0.1:18500/library/tiny:latest": 234_000}
    for wanted in ("127.0.0.1:18500/library/tiny:latest", "127.0.0.1:18500/library/tiny",
                   "127.0.0.1:18500/Library/Tiny"):
        assert parsers.has_model(present, wanted), wanted
    for other in ("tiny", "library/tiny", "127.0.0.1:18501/library/tiny", "127.0.0.1:18500/team/tiny:latest"):
        assert not parsers.has_model(present, other), other


def test_has_model_reads_names_as_ollama_lists_them():
    # types/model/name.go DisplayShortest: the default host and namespace left out, the tag always there
    assert parsers.has_model(["llama3.1:latest"], "llama3.1")
    assert parsers.has_model(["llama3.1:8b"], "library/llama3.1:8b")
    assert parsers.has_model(["llama3.1:8b"], "registry.ollama.ai/library/llama3.1:8b")
    assert parsers.has_model(["team/coder:latest"], "team/coder")
    assert not parsers.has_model(["team/coder:latest"], "coder")
    assert not parsers.has_model(["llama3.1:8b"], "llama3.1")
    # internal/modelref: `:cloud` after a tag pulls as TAG-cloud, `:local` is dropped
    assert parsers.has_model(["gpt-oss:20b-cloud"], "gpt-oss:20b:cloud")
    assert parsers.has_model(["qwen3:latest"], "qwen3:local")
