"""Errors that end a command with a phase's exit code and a remedy, never a traceback."""

from __future__ import annotations

# One exit code per deploy phase, so a script knows where a run stopped.
EXIT_CODES = {
    "catalog": 2,
    "preflight": 3,
    "provision": 4,
    "boot": 5,
    "configure": 6,
    "verify": 7,
    "bench": 8,
    # commands outside the deploy's phases, each under its own name: status reads the host as preflight
    # does, destroy changes it as provision does
    "status": 3,
    "destroy": 4,
}


class PhaseError(Exception):
    """A failure in one phase: what went wrong and what the admin should do about it."""

    def __init__(self, phase: str, message: str, remedy: str = ""):
        super().__init__(message)
        self.phase = phase
        self.message = message
        self.remedy = remedy

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.phase]
