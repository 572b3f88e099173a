"""The suite's error types: what a command line prints as one ``error:`` line instead of a traceback.

Every error about an input - a file, a setting, a video - derives from :class:`SuiteError`; the ones
that are also "a bad value" derive from :class:`InputError` (a ``ValueError``), so code that catches
``ValueError`` keeps working. Missing files raise the built-in :class:`FileNotFoundError`.
"""

from __future__ import annotations

import pickle

__all__ = ["SuiteError", "InputError", "ModelFileError", "UnsafePickleError"]


class SuiteError(Exception):
    """Something about the user's input (a file, a setting, a video) is wrong; the message names the
    input and the fix."""


class InputError(SuiteError, ValueError):
    """An input exists but is not what it should be (a malformed file, an out-of-range setting)."""


class ModelFileError(InputError):
    """A model or landmark-embedding file exists but is not what it should be."""


class UnsafePickleError(SuiteError, pickle.UnpicklingError):
    """A pickle referenced a global outside the allow-list (possibly malicious)."""
