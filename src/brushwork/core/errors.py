"""User-facing errors.

Every problem a user can cause (a missing file, a wrong mask, an existing output) is raised as a
:class:`BrushworkError`.  The CLI prints its message on one line and exits with its code, so each
message must name the problem *and* the fix.  Exit codes are documented in ``docs/reliability.md``.
"""

from __future__ import annotations


class BrushworkError(Exception):
    """An error the user can fix; ``exit_code`` is what the CLI returns."""

    exit_code = 1

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if exit_code is not None:
            self.exit_code = exit_code

    def __str__(self) -> str:
        return self.message


class InputError(BrushworkError):
    """An input file is missing, unreadable, or not usable (exit code 2)."""

    exit_code = 2


class OutputError(BrushworkError):
    """An output cannot be written, or exists and ``--overwrite`` was not given (exit code 3)."""

    exit_code = 3


class SettingsError(BrushworkError):
    """A setting is out of range or contradicts another (exit code 4)."""

    exit_code = 4


class ResourceError(BrushworkError):
    """The job does not fit in memory or the device is unavailable (exit code 5)."""

    exit_code = 5


class WeightsError(BrushworkError):
    """A weights or model file is missing, corrupt, or of another format (exit code 6)."""

    exit_code = 6


class Diverged(BrushworkError):
    """The loss became NaN or infinite; the last good result was kept (exit code 7)."""

    exit_code = 7


class Interrupted(BrushworkError):
    """The user pressed Ctrl-C; the last good result was kept (exit code 130)."""

    exit_code = 130


#: Exit codes that are not an error class: success, and an unexpected internal error.
EXIT_OK, EXIT_INTERNAL = 0, 1
