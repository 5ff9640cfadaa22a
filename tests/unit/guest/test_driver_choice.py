"""choose_driver on the real `ubuntu-drivers devices` output and on variants of it."""

from __future__ import annotations

import pytest

from aimachine.guest.drivers import (
    DriverChoiceError,
    choose_driver,
    install_spec,
    installed_open_driver,
    module_package,
)
from tests.conftest import FIXTURES
from tests.harness.real_outputs import body

REAL = (FIXTURES / "ubuntu-drivers-devices.rtx5060ti.noble.txt").read_text()
HEAD = "== /sys/devices/pci0000:00/0000:00:01.0/0000:01:00.0 ==\nvendor   : NVIDIA Corporation\n"


def offer(*lines: str) -> str:
    return HEAD + "".join(f"driver   : {line}\n" for line in lines)


def test_real_output_picks_580_open():
    assert choose_driver(REAL) == "nvidia-driver-580-open"
    assert install_spec("nvidia-driver-580-open") == "nvidia:580-open"


def test_todays_noble_recommends_620_open_and_the_choice_follows():
    # the real output of the test host (tests/fixtures/README.md): 580-open is still offered, 620-open
    # is recommended; a catalog that pins 580 keeps it
    today = body("ubuntu-drivers-devices.rtx5060ti.noble-2026-12.txt")
    assert choose_driver(today) == "nvidia-driver-620-open"
    assert choose_driver(today, 580) == "nvidia-driver-580-open"


def test_only_closed_drivers_is_an_error_listing_the_offer():
    with pytest.raises(
        DriverChoiceError, match=r"offered: nvidia-driver-580 \(recommended\), nvidia-driver-570"
    ):
        choose_driver(
            offer("nvidia-driver-580 - distro non-free recommended", "nvidia-driver-570 - distro non-free")
        )


def test_recommended_closed_falls_back_to_highest_open():
    text = offer(
        "nvidia-driver-580 - distro non-free recommended",
        "nvidia-driver-570-open - distro non-free",
        "nvidia-driver-580-open - distro non-free",
        "nvidia-driver-590-server-open - distro non-free",
    )
    assert choose_driver(text) == "nvidia-driver-580-open"


def test_595_and_580_open_takes_the_recommended_one_else_the_highest():
    both = ("nvidia-driver-595-open - distro non-free", "nvidia-driver-580-open - distro non-free")
    assert choose_driver(offer(*both)) == "nvidia-driver-595-open"
    assert choose_driver(offer(both[0], both[1] + " recommended")) == "nvidia-driver-580-open"
    assert choose_driver(offer(*both), branch=580) == "nvidia-driver-580-open"


def test_pinned_branch_not_offered_says_so():
    with pytest.raises(DriverChoiceError, match="of branch 600"):
        choose_driver(REAL, branch=600)


def test_third_party_open_driver_is_not_taken():
    with pytest.raises(DriverChoiceError):
        choose_driver(offer("nvidia-driver-580-open - third-party non-free recommended"))


def test_no_model_line_and_noise_lines_still_parse():
    text = (
        "udevadm hwdb is deprecated. Use systemd-hwdb instead.\nERROR:root:aplay command not found\n"
        "driver   : nvidia-driver-580-open - distro non-free recommended\n"
    )
    assert choose_driver(text) == "nvidia-driver-580-open"


@pytest.mark.parametrize("text", ["", "udevadm hwdb is deprecated. Use systemd-hwdb instead.\n"])
def test_empty_output_is_an_error(text):
    with pytest.raises(DriverChoiceError, match="offered: nothing"):
        choose_driver(text)


def test_error_is_a_value_error():
    assert issubclass(DriverChoiceError, ValueError)


def test_module_package_names_the_running_kernel():
    assert (
        module_package("nvidia-driver-580-open", "6.8.0-88-generic")
        == "linux-modules-nvidia-580-open-6.8.0-88-generic"
    )


def test_an_installed_open_driver_is_kept_under_auto():
    assert installed_open_driver({"nvidia-driver-580-open": ["580.95.05"], "nvtop": ["3"]}) == \
        "nvidia-driver-580-open"
    assert installed_open_driver(["nvidia-driver-580-server-open", "nvidia-driver-570"]) is None
    both = ["nvidia-driver-570-open", "nvidia-driver-580-open"]
    assert installed_open_driver(both) == "nvidia-driver-580-open"
