"""Errors raised by the video layer.

Every error here is permanent: retrying the same call with the same arguments fails the same
way, so a durable step should surface it instead of retrying.
"""

from __future__ import annotations

from durable_sim.errors import DurableSimError


class VideoError(DurableSimError):
    """Base class of all video-layer errors."""


class InvalidVideoError(VideoError, ValueError):
    """The input bytes are not a readable video, or not one this pipeline supports."""


class ChunkCountError(VideoError, ValueError):
    """The requested number of chunks does not fit the video's keyframe layout."""


class AssemblyError(VideoError):
    """Encoded parts cannot be joined, or the joined output fails verification."""


class BlobNotFoundError(VideoError, LookupError):
    """No blob with the requested key exists in the store."""
