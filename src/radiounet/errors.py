"""Exceptions that carry a message meant for the user.

The command line prints these as one line and exits with status 2; any other
exception is a bug and keeps its traceback.
"""

import numbers

__all__ = ["RadioUNetError", "InvalidParameterError", "MissingFileError", "OutputError", "Terminated",
           "RadioUNetWarning", "require_positive_int", "require_non_negative_int"]


class RadioUNetError(Exception):
    """Base class of all errors caused by the user's input or environment."""


class InvalidParameterError(RadioUNetError, ValueError):
    """A parameter has a value outside of what it can be.

    Parameters
    ----------
    name : str
        The parameter's name as the user gave it (option or field name).
    value : object
        The offending value.
    reason : str
        What the value must be, e.g. ``"must be positive"``.
    """

    def __init__(self, name, value, reason):
        self.name = name
        self.value = value
        self.reason = reason
        shown = repr(value) if isinstance(value, str) else str(value)
        super().__init__(f"invalid {name}={shown}: {reason}")


class MissingFileError(RadioUNetError, FileNotFoundError):
    """An input file or folder does not exist; caught by ``except FileNotFoundError`` (or ``OSError``) as well."""


class OutputError(RadioUNetError, OSError):
    """An output location cannot be created or written."""


class Terminated(KeyboardInterrupt):
    """SIGTERM (a batch system's time limit, ``scancel``, ``kill``) in the command line, raised as an interrupt so
    that a command stops as on Ctrl-C: no half-written output, and the same command resumes."""


class RadioUNetWarning(UserWarning):
    """Something about an input the user should know, which does not stop the work (an image without ``BUNIT``
    read as Jy/beam); the command line prints it as one line, ``radio-unet: warning: ...``."""


def require_positive_int(value, name):
    """Raise :class:`InvalidParameterError` unless ``value`` is an integer >= 1 (bool excluded)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise InvalidParameterError(name, value, "must be a positive integer")


def require_non_negative_int(value, name):
    """Raise :class:`InvalidParameterError` unless ``value`` is an integer >= 0 (bool excluded), as a seed."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise InvalidParameterError(name, value, "must be a non-negative integer")
