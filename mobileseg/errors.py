"""Typed errors. Each message says what was given, what is allowed and what to do next.

The CLI turns any :class:`MobilesegError` into one line on stderr and a non-zero exit, without a
traceback; library callers can catch the specific subclass.
"""


class MobilesegError(Exception):
    """Base class of every error mobileseg raises on purpose."""


class DatasetError(MobilesegError):
    """A dataset folder, list, frame or mask is missing, corrupt or inconsistent."""


class ResultsError(MobilesegError):
    """A folder of predicted masks does not match the dataset it is scored against."""


class ConfigError(MobilesegError):
    """An option or configuration value is outside what is allowed."""


class UnknownNameError(ConfigError):
    """A registry lookup by a name nobody registered."""


class OutputError(ConfigError):
    """An output folder cannot be written, or writing it would overwrite the inputs."""
