"""The API token from the environment: every wrong or missing variable named at once, the secret
never in a message, only the token's id safe to print."""

from __future__ import annotations

import pytest

from aimachine.errors import PhaseError
from aimachine.proxmox.credentials import credentials_from_env

GOOD = {"PROXMOX_VE_ENDPOINT": "https://192.168.0.19:8006/",
        "PROXMOX_VE_API_TOKEN": " aimachine@pve!deploy=5d6a3f2e-1c2b-4d3e-8f40-0123456789ab "}
SECRET = "5d6a3f2e-1c2b-4d3e-8f40-0123456789ab"
SHAPE = "USER@REALM!TOKENID=SECRET, e.g. aimachine@pve!deploy=xxxxxxxx-xxxx-..."


def test_a_good_token_is_read_and_its_secret_kept_apart():
    creds = credentials_from_env(GOOD)
    assert (creds.endpoint, creds.user, creds.token_name, creds.secret, creds.insecure) == (
        "https://192.168.0.19:8006", "aimachine@pve", "deploy", SECRET, False)
    assert creds.token_id == "aimachine@pve!deploy"
    assert creds.redact(f"401: token aimachine@pve!deploy={SECRET} refused {SECRET}") == \
        "401: token aimachine@pve!deploy=*** refused ***"


@pytest.mark.parametrize(("value", "insecure"), [("1", True), ("true", True), (" YES ", True), ("on", True),
                                                 ("0", False), ("false", False), ("", False), ("no", False)])
def test_insecure_takes_the_usual_spellings(value, insecure):
    assert credentials_from_env({**GOOD, "PROXMOX_VE_INSECURE": value}).insecure is insecure


@pytest.mark.parametrize(("env", "problems"), [
    ({}, ["PROXMOX_VE_ENDPOINT is not set (e.g. https://192.168.0.19:8006)",
          f"PROXMOX_VE_API_TOKEN is not set ({SHAPE})"]),
    ({"PROXMOX_VE_ENDPOINT": "http://h:8006", "PROXMOX_VE_API_TOKEN": "root@pam=secret"},
     ["PROXMOX_VE_ENDPOINT='http://h:8006' is not https://HOST:PORT (without /api2/json)",
      f"PROXMOX_VE_API_TOKEN is not of the form {SHAPE} (its value is not shown)"]),
    ({"PROXMOX_VE_ENDPOINT": "https://h:8006/api2/json", "PROXMOX_VE_API_TOKEN": "a@b!c=d"},
     ["PROXMOX_VE_ENDPOINT='https://h:8006/api2/json' is not https://HOST:PORT (without /api2/json)",
      "PROXMOX_VE_API_TOKEN: the secret of a@b!c is not a UUID as Proxmox makes them "
      "(xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx; its value is not shown)"]),
    ({"PROXMOX_VE_ENDPOINT": "https://", "PROXMOX_VE_API_TOKEN": "a@b!1c=d"},
     ["PROXMOX_VE_ENDPOINT='https://' is not https://HOST:PORT (without /api2/json)",
      f"PROXMOX_VE_API_TOKEN is not of the form {SHAPE} (its value is not shown)"]),
])
def test_every_problem_is_named_and_the_secret_never_shown(env, problems):
    with pytest.raises(PhaseError) as err:
        credentials_from_env(env, phase="provision")
    assert err.value.phase == "provision"
    assert err.value.message == "; ".join(problems)
    assert err.value.remedy == "export the variables (docs: The API token), then re-run"
    assert "secret" not in err.value.message.replace("SECRET", "").replace("the secret of", "")


def test_the_environment_and_the_preflight_phase_are_the_defaults(monkeypatch):
    for key, value in {**GOOD, "PROXMOX_VE_ENDPOINT": "https://pveX/"}.items():
        monkeypatch.setenv(key, value)
    assert credentials_from_env().endpoint == "https://pveX"
    monkeypatch.delenv("PROXMOX_VE_API_TOKEN")
    with pytest.raises(PhaseError) as err:
        credentials_from_env()
    assert err.value.phase == "preflight"


def test_a_path_after_the_host_is_refused():
    with pytest.raises(PhaseError, match="is not https://HOST:PORT"):
        credentials_from_env({**GOOD, "PROXMOX_VE_ENDPOINT": "https://h:8006/X"})


def test_an_empty_secret_redacts_nothing():
    creds = credentials_from_env(GOOD)
    assert type(creds)(creds.endpoint, creds.user, creds.token_name, "", False).redact("text") == "text"


@pytest.mark.parametrize("secret", ["s", "a", "secret", "s3cr3t-value", "5d6a3f2e-1c2b-4d3e-8f40",
                                    "5d6a3f2e-1c2b-4d3e-8f40-0123456789ab-extra"])
def test_a_secret_that_is_not_a_uuid_is_refused_by_the_tokens_name(secret):
    """A one-character secret used to be accepted, and masking then turned every such character of the
    output into ***."""
    with pytest.raises(PhaseError) as err:
        credentials_from_env({**GOOD, "PROXMOX_VE_API_TOKEN": f"aimachine@pve!deploy={secret}"})
    assert err.value.message == ("PROXMOX_VE_API_TOKEN: the secret of aimachine@pve!deploy is not a UUID as "
                                 "Proxmox makes them (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx; its value is not "
                                 "shown)")
    # the message is that fixed text: no part of the secret can be in it


def test_masking_takes_the_whole_secret_only():
    creds = credentials_from_env(GOOD)
    text = f"token={SECRET}; x{SECRET}; {SECRET}0; {SECRET[:8]} stays; session 5d6a3f2e"
    assert creds.redact(text) == f"token=***; x{SECRET}; {SECRET}0; 5d6a3f2e stays; session 5d6a3f2e"
