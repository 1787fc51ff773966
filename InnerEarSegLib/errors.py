"""Exceptions the library raises for problems a user can fix (bad input, bad model file)."""
from __future__ import annotations


class InnerEarSegError(Exception):
    """Base class: the message says what is wrong and what to do."""


class InputError(InnerEarSegError, ValueError):
    """The input image cannot be used (wrong dimension, spacing, intensities, size, format)."""


class ModelError(InnerEarSegError):
    """The model package is missing, corrupt, tampered with or incompatible."""


#: Exit code of ``innerear-seg`` for :class:`NoEarFound`: the caller should ask for a point on each ear
#: (``--roi-center`` / ``--roi-side``, a markups point list in Slicer) and run again. 1 is every other refusal.
EXIT_NO_EAR = 3


class NoEarFound(InputError):
    """The automatic search found no inner ear it would vouch for; the user is asked for a point on each ear.

    ``best_guesses`` holds the strongest rejected candidates (LPS mm, confidence) for display, never for use.
    """

    def __init__(self, message: str, best_guesses: tuple = ()):
        super().__init__(message)
        self.best_guesses = tuple(best_guesses)


class OutputError(InnerEarSegError):
    """The outputs cannot be written where asked (not a folder, no permission, disk full, a clash, in use)."""
