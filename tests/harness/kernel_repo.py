"""A local apt repository with a newer "kernel" for the test host: what a cloud image older than the
archive meets on first boot.

The packages are shaped after Ubuntu's: the metapackage `linux-generic` depends on one ABI's image
package (`linux-image-6.8.0-NN-generic`), and installing an image makes its postinst run the
update-notifier hook (/etc/kernel/postinst.d/update-notifier -> notify-reboot-required), which writes
`*** System restart required ***` to /var/run/reboot-required and the package to
/var/run/reboot-required.pkgs. They hold no kernel: the test host is a container.
"""

from __future__ import annotations

import hashlib
import subprocess
from email.utils import formatdate
from pathlib import Path

OLD_ABI, NEW_ABI = "6.8.0-88", "6.8.0-90"
NOTIFY_REBOOT = """#!/bin/sh
# what Ubuntu's kernel postinst does through update-notifier's notify-reboot-required
[ "$1" = configure ] || exit 0
echo "*** System restart required ***" > /var/run/reboot-required
echo "{package}" >> /var/run/reboot-required.pkgs
"""


def _deb(out: Path, name: str, version: str, depends: str = "", postinst: str = "") -> Path:
    root = out.parent / "build" / name
    (root / "DEBIAN").mkdir(parents=True, exist_ok=True)
    control = (f"Package: {name}\nVersion: {version}\nArchitecture: all\nMaintainer: test <t@t>\n"
               f"Description: stand-in for Ubuntu's {name}\n")
    (root / "DEBIAN" / "control").write_text(control + (f"Depends: {depends}\n" if depends else ""))
    if postinst:
        (root / "DEBIAN" / "postinst").write_text(postinst)
        (root / "DEBIAN" / "postinst").chmod(0o755)
    deb = out / f"{name}_{version}_all.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "-Zgzip", "--build", str(root), str(deb)],
                   check=True, capture_output=True)
    return deb


def _image(out: Path, abi: str) -> Path:
    name = f"linux-image-{abi}-generic"
    return _deb(out, name, f"{abi}.1", postinst=NOTIFY_REBOOT.format(package=name))


def build(root: Path) -> dict[str, Path]:
    """ROOT/installed (the image's packages, for dpkg -i) and ROOT/archive (a flat repository with the
    newer ones, `deb [trusted=yes] file:ROOT/archive ./`)."""
    installed, archive = root / "installed", root / "archive"
    for d in (installed, archive):
        d.mkdir(parents=True, exist_ok=True)
    _image(installed, OLD_ABI)
    _deb(installed, "linux-generic", f"{OLD_ABI}.1", depends=f"linux-image-{OLD_ABI}-generic")
    debs = [_image(archive, NEW_ABI),
            _deb(archive, "linux-generic", f"{NEW_ABI}.1", depends=f"linux-image-{NEW_ABI}-generic")]
    packages = "\n".join(_stanza(deb) for deb in debs).encode()
    (archive / "Packages").write_bytes(packages)
    # an unsigned Release naming the index (the source is `trusted=yes`, as a local mirror's would be)
    (archive / "Release").write_text(
        f"Date: {formatdate(usegmt=True)}\nSHA256:\n"
        f" {hashlib.sha256(packages).hexdigest()} {len(packages)} Packages\n")
    return {"installed": installed, "archive": archive}


def _stanza(deb: Path) -> str:
    """A Packages entry as dpkg-scanpackages writes it: the control fields, then the file's place and
    size and digest."""
    control = subprocess.run(["dpkg-deb", "-f", str(deb)], capture_output=True, text=True, check=True).stdout
    data = deb.read_bytes()
    return (control.rstrip("\n") + f"\nFilename: ./{deb.name}\nSize: {len(data)}\n"
            f"SHA256: {hashlib.sha256(data).hexdigest()}\n")
