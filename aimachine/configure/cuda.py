"""cuda: NVIDIA's apt repository, added by its signing key (checked by fingerprint), and the catalog's
cuda-toolkit; never the driver (a pin keeps NVIDIA's driver packages out).

The key is what a `cuda-keyring` package would install, fetched as NVIDIA publishes it beside the
repository (`3bf863cc.pub`) and accepted only with the published fingerprint, so no checksum has to
be looked up by hand: a different key stops the step before apt trusts anything."""

from __future__ import annotations

import shlex

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.facts.server import LinuxDistribution
from pyinfra.operations import server

from aimachine.configure.common import ensure_packages, put_files
from aimachine.configure.facts import KeyringFingerprints
from aimachine.guest.drivers import CUDA_KEY_FINGERPRINT, cuda_key_url, cuda_repo_url
from aimachine.guest.rendered import CUDA_KEYRING, cuda_files, cuda_source


def add_key_command(url: str, keyring: str, fingerprint: str) -> str:
    """Fetch the armored key at URL, refuse it unless its primary key has FINGERPRINT, then write it
    dearmored to KEYRING (through a temporary file: a refused key leaves nothing behind)."""
    tmp = shlex.quote(f"{keyring}.download")
    return (
        f"curl -fsSL --retry 3 -o {tmp} {shlex.quote(url)} && "
        f"found=$(gpg --show-keys --with-colons {tmp} | awk -F: '$1 == \"pub\" {{p = 1}} "
        f"p && $1 == \"fpr\" {{print $10; exit}}') && "
        f"if [ \"$found\" != {fingerprint} ]; then rm -f {tmp}; "
        f"echo \"the key at {url} has fingerprint ${{found:-none}}, not {fingerprint}: refused\"; exit 1; fi "
        f"&& gpg --dearmor < {tmp} > {shlex.quote(keyring)}.new && rm -f {tmp} && "
        f"chmod 644 {shlex.quote(keyring)}.new && mv {shlex.quote(keyring)}.new {shlex.quote(keyring)}"
    )


@deploy("cuda")
def cuda() -> None:
    nv = host.data.vm.nvidia
    release = (host.get_fact(LinuxDistribution) or {}).get("release_meta", {}).get("VERSION_ID", "24.04")
    ensure_packages(["curl", "gnupg", "ca-certificates"], "key tools (curl, gpg)")
    put_files(cuda_files())  # the driver pin goes in before NVIDIA's repo can offer anything
    if CUDA_KEY_FINGERPRINT not in host.get_fact(KeyringFingerprints, path=CUDA_KEYRING):
        server.shell(
            name=f"Add NVIDIA's CUDA repository key (fingerprint {CUDA_KEY_FINGERPRINT})",
            commands=[add_key_command(cuda_key_url(release), CUDA_KEYRING, CUDA_KEY_FINGERPRINT)],
        )
    put_files([cuda_source(cuda_repo_url(release))])
    ensure_packages([nv.cuda_toolkit], "the CUDA toolkit")  # its apt-get update reads the new source
