"""Exceptions the library raises for problems a user can fix (bad input, bad model file)."""
from __future__ import annotations


class InnerEarSegError(Exception):
    """Base class: the message says what is wrong and what to do."""


class InputError(InnerEarSegError, ValueError):
    """The input image cannot be used (wrong dimension, spacing, intensities, size, format)."""


class ModelError(InnerEarSegError):
    """The model package is missing, corrupt, tampered with or incompatible."""


class OutputError(InnerEarSegError):
    """The outputs cannot be written where asked (not a folder, no permission, disk full, a clash, in use)."""
