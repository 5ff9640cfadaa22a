"""What bench reads over SSH from the VM: the GPU's name and driver, and vLLM's weight files."""

from __future__ import annotations

import shlex

from aimachine.bench.roofline import Weights, safetensors_bytes
from aimachine.reach.ssh import SshTarget, run

NVIDIA_SMI = "nvidia-smi --query-gpu=name,driver_version --format=csv,noheader"


def parse_gpu(text: str) -> tuple[str, str] | None:
    """First GPU from `nvidia-smi --query-gpu=name,driver_version --format=csv,noheader`."""
    for line in text.splitlines():
        name, sep, driver = line.rpartition(",")
        if sep and name.strip() and driver.strip():
            return name.strip(), driver.strip()
    return None


def gpu_info(target: SshTarget) -> dict:
    result = run(target, NVIDIA_SMI, timeout=30)
    parsed = parse_gpu(result.stdout) if result.returncode == 0 else None
    if parsed is None:
        why = (result.stderr or result.stdout).strip().splitlines()
        return {"name": None, "driver": None,
                "reason": f"`{NVIDIA_SMI}` failed on the VM: {why[-1] if why else 'no output'}"}
    return {"name": parsed[0], "driver": parsed[1], "source": "nvidia-smi over ssh"}


def safetensors_listing_command(cache_dir: str, model: str) -> str:
    """Shell that prints `ref <hash>` and `<size> <snapshot>/<file>` for the model's safetensors.

    A model id is looked up in the Hugging Face cache under cache_dir (the unit sets
    HF_HOME=cache_dir/huggingface); an absolute path is a local model directory. The cache belongs to
    the vllm user, so the listing runs through `sudo -n` (the login user may sudo without a password).
    """
    if model.startswith("/"):
        script = f"find -L {shlex.quote(model)} -maxdepth 1 -name '*.safetensors' -printf '%s %P\\n'"
    else:
        repo = "models--" + model.replace("/", "--")
        dirs = " ".join(shlex.quote(f"{cache_dir.rstrip('/')}/{sub}{repo}")
                        for sub in ("huggingface/hub/", "hub/", ""))
        script = (f"for d in {dirs}; do if [ -d \"$d/snapshots\" ]; then "
                  "echo \"ref $(cat \"$d/refs/main\" 2>/dev/null)\"; "
                  "find -L \"$d/snapshots\" -name '*.safetensors' -printf '%s %P\\n'; break; fi; done")
    return f"sudo -n sh -c {shlex.quote(script)}"


def vllm_weights(target: SshTarget, cache_dir: str, model: str) -> Weights:
    result = run(target, safetensors_listing_command(cache_dir, model), timeout=60)
    found = safetensors_bytes(result.stdout) if result.returncode == 0 else None
    if found is None:
        return Weights(None, f"no safetensors of {model} found under {cache_dir} on the VM "
                             "(pass --weights-gb to give the size)")
    total, snapshot = found
    return Weights(total, f"safetensors of {model} in {cache_dir} (snapshot {snapshot[:12]}) over ssh")
