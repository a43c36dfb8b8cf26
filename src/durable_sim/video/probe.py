"""Probing and validating input videos: the pipeline's metadata-validation step.

`probe` reads the container and packet headers only (fast, no decoding); `validate` also decodes
every frame and checks that the video is one the pipeline supports, raising a single
`InvalidVideoError` that says what is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import TypedDict

from durable_sim.video.errors import InvalidVideoError
from durable_sim.video.mp4 import first_video_stream, open_input, presentation_span, read_packets

SUPPORTED_CONTAINER = "mp4"
SUPPORTED_CODEC = "h264"


class VideoInfoDict(TypedDict):
    """JSON form of `VideoInfo` (keyframe positions reduced to their count)."""

    container: str
    codec: str
    width: int
    height: int
    fps: float
    frame_count: int
    duration_s: float
    keyframe_count: int
    size_bytes: int


@dataclass(frozen=True)
class VideoInfo:
    """What a video is: container, codec, size, rate, frames, duration and keyframe layout."""

    container: str
    codec: str
    width: int
    height: int
    fps: Fraction
    frame_count: int
    duration: Fraction
    keyframes: tuple[int, ...]
    size_bytes: int

    def to_dict(self) -> VideoInfoDict:
        """JSON-serializable summary, small enough for a durable checkpoint."""
        return VideoInfoDict(
            container=self.container,
            codec=self.codec,
            width=self.width,
            height=self.height,
            fps=float(self.fps),
            frame_count=self.frame_count,
            duration_s=float(self.duration),
            keyframe_count=len(self.keyframes),
            size_bytes=self.size_bytes,
        )


def probe(data: bytes) -> VideoInfo:
    """Describe the first video stream of `data` from its packets, without decoding."""
    with open_input(data) as container:
        stream = first_video_stream(container)
        packets = read_packets(container, stream)
        start, end = presentation_span(packets)
        if stream.time_base is None:
            raise InvalidVideoError("unsupported video: the video stream has no time base")
        return VideoInfo(
            container=container.format.name,
            codec=stream.codec_context.name,
            width=stream.codec_context.width,
            height=stream.codec_context.height,
            fps=Fraction(stream.average_rate or 0),
            frame_count=len(packets),
            duration=(end - start) * stream.time_base,
            keyframes=tuple(i for i, p in enumerate(packets) if p.is_keyframe),
            size_bytes=len(data),
        )


def decoded_frame_count(data: bytes) -> int:
    """Number of frames that decode from the first video stream of `data`."""
    import av

    with open_input(data) as container:
        stream = first_video_stream(container)
        try:
            return sum(1 for _ in container.decode(stream))
        except av.FFmpegError as exc:
            raise InvalidVideoError(f"not a decodable video: {exc}") from exc


def validate(data: bytes) -> VideoInfo:
    """Probe `data` and check the pipeline can process it; raise `InvalidVideoError` if not."""
    info = probe(data)
    problems = []
    if SUPPORTED_CONTAINER not in info.container.split(","):
        problems.append(f"container is {info.container!r}, expected MP4")
    if info.codec != SUPPORTED_CODEC:
        problems.append(f"codec is {info.codec!r}, expected {SUPPORTED_CODEC!r}")
    if info.fps <= 0:
        problems.append("frame rate is unknown")
    if not info.keyframes or info.keyframes[0] != 0:
        problems.append("the first frame is not a keyframe")
    if problems:
        raise InvalidVideoError("unsupported video: " + "; ".join(problems))
    decoded = decoded_frame_count(data)
    if decoded != info.frame_count:
        raise InvalidVideoError(f"corrupt video: {decoded} of {info.frame_count} frames decode")
    return info
