"""Errors caused by user input. The CLI prints their message as one line and exits non-zero."""


class OmnimogenError(Exception):
    """Base class: the message is one sentence that names the input, the problem and the fix."""


class MotionError(OmnimogenError, ValueError):
    """A motion (array, features, joints) has the wrong shape or contains bad values."""


class FormatError(OmnimogenError, ValueError):
    """A file could not be read or written in the format its extension names."""


class OptionError(OmnimogenError, ValueError):
    """A setting outside its range: a temperature, a count, a learning rate."""


def check_number(name: str, value, low: float | None = None, high: float | None = None, *, integer: bool = False,
                 above: bool = False) -> None:  # fmt: skip
    """Refuse ``value`` unless it is a finite number (an integer when ``integer``) at least ``low``
    (more than ``low`` when ``above``) and at most ``high``; the one check behind every numeric option."""
    import math
    import numbers

    kind = numbers.Integral if integer else numbers.Real
    ok = isinstance(value, kind) and not isinstance(value, bool) and math.isfinite(value)
    if ok and low is not None:
        ok = value > low if above else value >= low
    if ok and high is not None:
        ok = value <= high
    if not ok:
        bounds = []
        if low is not None:
            bounds.append(f"{'more than' if above else 'at least'} {low:g}")
        if high is not None:
            bounds.append(f"at most {high:g}")
        what = "a whole number" if integer else "a number"
        raise OptionError(f"{name} must be {what}{' ' + ' and '.join(bounds) if bounds else ''}, not {value!r}.")
