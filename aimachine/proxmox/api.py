"""The Proxmox VE API client: reads retried a bounded number of times (they are idempotent; transient
500s included), writes never retried, and the token kept out of every message (credentials.py).
"""

from __future__ import annotations

import re
import time
from typing import Any
from urllib.parse import urlsplit

from aimachine.proxmox import paths
from aimachine.proxmox.credentials import Credentials, credentials_from_env

READ_ATTEMPTS = 3
# no answer, or a proxy/gateway hiccup
TRANSIENT = {0, 502, 503, 504, 596, 599}
# A 500 on a read can pass (pveproxy restarting, `got no worker`); these say something that stays true.
PERMANENT_500 = re.compile(r"does not exist|not found|not running|No QEMU guest agent|already exists|"
                           r"not configured|unable to parse|is locked", re.IGNORECASE)


def retryable(err: ApiError) -> bool:
    """Whether a failed read is worth asking again (writes are never retried)."""
    return err.status in TRANSIENT or (err.status == 500 and not PERMANENT_500.search(err.message))


class ApiError(Exception):
    """A failed API call, its text already redacted; status 0 means no HTTP answer at all."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


class Api:
    """Thin wrapper over proxmoxer: `get` retries, `post`/`delete` run once. proxmoxer and requests
    are imported here, when a command first talks to the API, so `aimachine --help` stays light."""

    def __init__(self, creds: Credentials, timeout: float = 15, retry_pause_s: float = 1.0):
        import urllib3
        from proxmoxer import ProxmoxAPI

        self.creds = creds
        self.retry_pause_s = retry_pause_s
        url = urlsplit(creds.endpoint)
        if creds.insecure:
            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        self._api = ProxmoxAPI(url.hostname, port=url.port or 8006, user=creds.user,
                               token_name=creds.token_name, token_value=creds.secret,
                               verify_ssl=not creds.insecure, timeout=timeout)

    def _call(self, method: str, path: str, params: dict[str, Any]) -> Any:
        import requests
        from proxmoxer.core import ResourceException

        resource = self._api(path.strip("/"))
        try:
            return getattr(resource, method)(**params)
        except ResourceException as exc:
            reason = exc.content if isinstance(exc.content, str) else str(exc)
            if exc.errors:
                reason = f"{reason} ({'; '.join(f'{k}: {v}' for k, v in dict(exc.errors).items())})"
            raise ApiError(int(exc.status_code), self.creds.redact(reason.strip())) from None
        except requests.exceptions.RequestException as exc:
            raise ApiError(0, self.creds.redact(f"cannot reach {self.creds.endpoint}: "
                                                f"{type(exc).__name__}: {exc}")) from None

    def get(self, path: str, **params: Any) -> Any:
        for attempt in range(1, READ_ATTEMPTS + 1):
            try:
                return self._call("get", path, params)
            except ApiError as err:
                if not retryable(err) or attempt == READ_ATTEMPTS:
                    raise
                time.sleep(self.retry_pause_s * attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    def post(self, path: str, **data: Any) -> Any:
        return self._call("post", path, data)

    def delete(self, path: str, **params: Any) -> Any:
        return self._call("delete", path, params)

    def wait_task(self, node: str, upid: str, deadline_s: float = 300, poll_s: float = 1.0) -> str:
        """Wait for a task; returns its exit status ('OK' or the error text)."""
        end = time.monotonic() + deadline_s
        while True:
            status = self.get(paths.task_status(node, upid))
            if status.get("status") == "stopped":
                return str(status.get("exitstatus", ""))
            if time.monotonic() > end:
                return f"task {upid} still running after {deadline_s:.0f} s"
            time.sleep(poll_s)


def connect(phase: str = "preflight", env: dict[str, str] | None = None) -> Api:
    return Api(credentials_from_env(env, phase))
