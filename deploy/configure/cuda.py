"""cuda: NVIDIA's apt repo (sha256-checked cuda-keyring), the catalog's cuda-toolkit, never the driver."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.facts.deb import DebPackages
from pyinfra.facts.server import LinuxDistribution
from pyinfra.operations import files, server

from deploy.configure.common import download_cache, ensure_packages, put_files, stop
from deploy.guest.drivers import cuda_repo, keyring_url
from deploy.guest.rendered import cuda_files


@deploy("cuda")
def cuda() -> None:
    nv = host.data.vm.nvidia
    keyring_sha256 = nv.cuda_keyring_sha256
    if not keyring_sha256:
        stop(
            "nvidia.cuda_keyring_sha256 is not set: every download is checked. Download the .deb named "
            "in README (Configuration: CUDA), run sha256sum on it and put the value in the catalog"
        )
        return
    release = (host.get_fact(LinuxDistribution) or {}).get("release_meta", {}).get("VERSION_ID", "24.04")
    put_files(cuda_files())  # the driver pin goes in before NVIDIA's repo can offer anything
    installed = host.get_fact(DebPackages) or {}
    if nv.cuda_keyring_version not in installed.get("cuda-keyring", []):
        url = keyring_url(release, nv.cuda_keyring_version)
        deb = f"{download_cache()}/cuda-keyring_{nv.cuda_keyring_version}_all.deb"
        files.download(
            name=f"Download cuda-keyring {nv.cuda_keyring_version} ({cuda_repo(release)})",
            src=url,
            dest=deb,
            sha256sum=keyring_sha256,
        )
        server.shell(name="Install cuda-keyring (NVIDIA's CUDA repository)", commands=[f"dpkg -i {deb}"])
    ensure_packages([nv.cuda_toolkit], "the CUDA toolkit")
