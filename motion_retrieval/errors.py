"""Exceptions a person is meant to read."""


class MotionFormatError(ValueError):
    """A motion file or array that cannot be read; the message says why in plain words."""
