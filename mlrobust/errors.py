"""Exceptions raised by mlrobust.

Every error a user can cause derives from :class:`MLRobustError` and carries a message that names
the problem and the fix. Library code never raises a bare ``Exception``.
"""

from __future__ import annotations


class MLRobustError(Exception):
    """Base class of every mlrobust error."""


class InputError(MLRobustError, ValueError):
    """An argument is malformed: wrong shape, NaN pixels, negative epsilon, unknown label, ..."""


class DataNotFoundError(MLRobustError, FileNotFoundError):
    """A data file is missing; the message says where we looked and how to provide it."""


class CorruptFileError(MLRobustError, ValueError):
    """A data, model or property file exists but cannot be parsed."""


class CheckpointError(MLRobustError, ValueError):
    """A checkpoint does not match the architecture or metadata it claims."""


class UnsupportedLayerError(MLRobustError, NotImplementedError):
    """A network contains a layer the verifier cannot encode."""


class SolverError(MLRobustError, RuntimeError):
    """A solver is missing, unlicensed or failed in a way we cannot fall back from."""


class SoundnessError(MLRobustError, AssertionError):
    """The same cell was both verified and falsified: a bug in a verifier or an attack."""
