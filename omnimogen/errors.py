"""Errors caused by user input. The CLI prints their message as one line and exits non-zero."""


class OmnimogenError(Exception):
    """Base class: the message is one sentence that names the input, the problem and the fix."""


class MotionError(OmnimogenError, ValueError):
    """A motion (array, features, joints) has the wrong shape or contains bad values."""


class FormatError(OmnimogenError, ValueError):
    """A file could not be read or written in the format its extension names."""
