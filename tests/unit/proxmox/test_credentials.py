"""The API token from the environment: every wrong or missing variable named at once, the secret
never in a message, only the token's id safe to print."""

from __future__ import annotations

import pytest

from deploy.errors import PhaseError
from deploy.proxmox.credentials import credentials_from_env

GOOD = {"PROXMOX_VE_ENDPOINT": "https://192.168.0.19:8006/",
        "PROXMOX_VE_API_TOKEN": " aimachine@pve!deploy=s3cr3t-uuid "}
SHAPE = "USER@REALM!TOKENID=SECRET, e.g. aimachine@pve!deploy=xxxxxxxx-xxxx-..."


def test_a_good_token_is_read_and_its_secret_kept_apart():
    creds = credentials_from_env(GOOD)
    assert (creds.endpoint, creds.user, creds.token_name, creds.secret, creds.insecure) == (
        "https://192.168.0.19:8006", "aimachine@pve", "deploy", "s3cr3t-uuid", False)
    assert creds.token_id == "aimachine@pve!deploy"
    assert creds.redact("401: token aimachine@pve!deploy=s3cr3t-uuid refused s3cr3t-uuid") == \
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
     ["PROXMOX_VE_ENDPOINT='https://h:8006/api2/json' is not https://HOST:PORT (without /api2/json)"]),
    ({"PROXMOX_VE_ENDPOINT": "https://", "PROXMOX_VE_API_TOKEN": "a@b!1c=d"},
     ["PROXMOX_VE_ENDPOINT='https://' is not https://HOST:PORT (without /api2/json)",
      f"PROXMOX_VE_API_TOKEN is not of the form {SHAPE} (its value is not shown)"]),
])
def test_every_problem_is_named_and_the_secret_never_shown(env, problems):
    with pytest.raises(PhaseError) as err:
        credentials_from_env(env, phase="provision")
    assert err.value.phase == "provision"
    assert err.value.message == "; ".join(problems)
    assert err.value.remedy == "export the variables (README: Proxmox API token), then re-run"
    assert "secret" not in err.value.message.replace("SECRET", "")


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
