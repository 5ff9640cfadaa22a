"""models: the vLLM model is fetched onto the VM in the background while the packages install.

The models step writes the fetcher (aimachine/onvm/fetch_models.py), its plan and its unit, and starts
`aimachine-models.service`; the vllm step waits for it just before vLLM starts, with a progress line
at most every 10 s. A model already in the cache (checked offline, against the list of files the
download finished with) adds no operation at all; a download cut short resumes from its part files.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Generator

from pyinfra import host, logger
from pyinfra.api import FunctionCommand, StringCommand, deploy, operation
from pyinfra.api.host import Host
from pyinfra.operations import files, systemd

from aimachine import transfers
from aimachine.catalog.schema import Vllm
from aimachine.configure.common import ConfigureStop, any_changed, ensure_packages, put_files
from aimachine.configure.facts import ModelsFetched
from aimachine.configure.launcher import NOTE
from aimachine.configure.services import service_user
from aimachine.guest.apt_calls import MODEL_FETCH_PACKAGES
from aimachine.guest.rendered import (
    MODELS_FETCHER,
    MODELS_SERVICE,
    MODELS_STATUS,
    model_fetch_files,
    models_plan,
)
from aimachine.onvm.fetch_models import plan_id

PROGRESS_EVERY_S = 10.0
POLL_S = 2.0
# Type=exec: `systemctl start` returns once the fetcher runs; one that runs already is left alone
START_UNLESS_RUNNING = f"systemctl is-active --quiet {MODELS_SERVICE} || systemctl start {MODELS_SERVICE}"


def model_missing(vllm: Vllm) -> bool:
    """True unless the catalog's model is complete in the VM's cache (always False with vLLM off)."""
    if not vllm.enabled:
        return False
    found = host.get_fact(ModelsFetched, fetcher=MODELS_FETCHER, plan=models_plan(vllm))
    return found.get(vllm.model) != "complete"


def vllm_home(vllm: Vllm) -> None:
    """The vllm user and its home, which hold the model cache (the vllm step has the same, unchanged)."""
    service_user("vllm", vllm.cache_dir)
    files.directory(name=f"Model cache {vllm.cache_dir}", path=vllm.cache_dir, user="vllm", group="vllm",
                    mode="750")


@deploy("models")
def models() -> None:
    vllm = host.data.vm.services.vllm
    if model_missing(vllm):
        start_model_fetch(vllm)


def start_model_fetch(vllm: Vllm) -> None:
    """The fetcher, its plan and unit on the VM, and the unit started (it runs on by itself)."""
    ensure_packages(MODEL_FETCH_PACKAGES, "Python for the model fetcher")
    vllm_home(vllm)
    written = put_files(model_fetch_files(vllm))
    if written:
        systemd.daemon_reload(name="systemctl daemon-reload", _if=any_changed(written))
    start_fetch(name=f"Start fetching {vllm.model} in the background ({MODELS_SERVICE})")


@operation(is_idempotent=False)
def start_fetch() -> Generator:
    yield StringCommand(START_UNLESS_RUNNING)


def read_status(host_: Host) -> tuple[str, transfers.FetchStatus | None]:
    """The unit's ActiveState and the fetcher's status file."""
    _, output = host_.run_shell_command(f"systemctl show -p ActiveState --value {MODELS_SERVICE}; "
                                         f"cat {shlex.quote(MODELS_STATUS)} 2>/dev/null")
    lines = output.stdout.splitlines()
    state = lines[0].strip() if lines else "unknown"
    return state, transfers.parse_status("\n".join(lines[1:]))


@operation(is_idempotent=False)
def wait_for_model(vllm: Vllm, every_s: float = PROGRESS_EVERY_S, poll_s: float = POLL_S) -> Generator:
    """Wait for the background fetch, saying how far it is; a fetch that ended without finishing this
    plan (cut short, or another plan's) is started again, up to three times."""
    this_plan = plan_id(models_plan(vllm))

    def wait(state, host: Host) -> None:  # pyinfra passes these two by name
        last, starts = 0.0, 0
        while True:
            active, status = read_status(host)
            mine = status if status and status.plan == this_plan else None
            running = active in ("active", "activating", "reloading")
            if mine and mine.state == "done" and not running:
                logger.warning(NOTE + transfers.done_text(vllm.model, mine))
                return
            if not running and ((mine and mine.state == "failed") or active == "failed" or starts >= 3):
                raise ConfigureStop(
                    f"fetching {vllm.model} failed: {mine.error if mine else 'see the journal'} "
                    f"(`journalctl -u {MODELS_SERVICE}` on the VM); check services.vllm.model, revision "
                    "and hf_endpoint; a re-run resumes the download")
            if not running:
                sudo = host.data.get("_sudo", False)
                host.run_shell_command(START_UNLESS_RUNNING, _sudo=sudo)
                starts += 1
            elif mine and time.monotonic() - last >= every_s:
                logger.warning(NOTE + transfers.progress_text(vllm.model, mine))
                last = time.monotonic()
            time.sleep(poll_s)

    yield FunctionCommand(wait, (), {})
