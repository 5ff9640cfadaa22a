"""The API token, from the environment the bpg provider also reads (PROXMOX_VE_ENDPOINT,
PROXMOX_VE_API_TOKEN, PROXMOX_VE_INSECURE), checked for its shape, and never printed: only its id
(USER@REALM!TOKENID) is safe to show, and `redact` takes the secret out of any text."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from aimachine.errors import PhaseError

ENDPOINT_ENV, TOKEN_ENV, INSECURE_ENV = "PROXMOX_VE_ENDPOINT", "PROXMOX_VE_API_TOKEN", "PROXMOX_VE_INSECURE"
_TOKEN_RE = re.compile(r"^(?P<user>[^@!\s]+@[^@!\s]+)!(?P<name>[A-Za-z][A-Za-z0-9._-]*)=(?P<secret>\S+)$")
_TOKEN_SHAPE = "USER@REALM!TOKENID=SECRET, e.g. aimachine@pve!deploy=xxxxxxxx-xxxx-..."
# Proxmox makes every token secret a UUID (`pveum user token add` prints it once): anything else is a typo,
# a token id pasted twice, or a password, and masking a short secret in output would mask ordinary text
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


@dataclass(frozen=True)
class Credentials:
    endpoint: str
    user: str
    token_name: str
    secret: str
    insecure: bool

    @property
    def token_id(self) -> str:
        """USER@REALM!TOKENID: safe to print, names the token without its secret."""
        return f"{self.user}!{self.token_name}"

    def redact(self, text: str) -> str:
        """TEXT with the secret masked where it stands as a whole token, never inside another word."""
        if not self.secret:
            return text
        return re.sub(rf"(?<![0-9A-Za-z-]){re.escape(self.secret)}(?![0-9A-Za-z-])", "***", text)


def _truthy(value: str) -> bool:
    return value.strip().lower() in ("1", "true", "yes", "on")


def credentials_from_env(env: dict[str, str] | None = None, phase: str = "preflight") -> Credentials:
    """Read and check the three variables; a clear error naming each one that is missing or wrong."""
    env = dict(os.environ if env is None else env)
    endpoint = env.get(ENDPOINT_ENV, "").strip()
    token = env.get(TOKEN_ENV, "").strip()
    problems = []
    if not endpoint:
        problems.append(f"{ENDPOINT_ENV} is not set (e.g. https://192.168.0.19:8006)")
    else:
        url = urlsplit(endpoint)
        if url.scheme != "https" or not url.hostname or url.path.rstrip("/") not in ("",):
            problems.append(f"{ENDPOINT_ENV}={endpoint!r} is not https://HOST:PORT "
                            "(without /api2/json)")
    match = _TOKEN_RE.match(token)
    if not token:
        problems.append(f"{TOKEN_ENV} is not set ({_TOKEN_SHAPE})")
    elif not match:
        problems.append(f"{TOKEN_ENV} is not of the form {_TOKEN_SHAPE} (its value is not shown)")
    elif not _UUID.fullmatch(match["secret"]):
        token_id = f"{match['user']}!{match['name']}"
        problems.append(f"{TOKEN_ENV}: the secret of {token_id} is not a UUID as Proxmox makes them "
                        "(xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx; its value is not shown)")
    if problems:
        raise PhaseError(phase, "; ".join(problems),
                         "export the variables (docs: The API token), then re-run")
    assert match is not None
    return Credentials(endpoint.rstrip("/"), match["user"], match["name"], match["secret"],
                       _truthy(env.get(INSECURE_ENV, "")))
