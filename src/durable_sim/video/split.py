"""Splitting a video into keyframe-aligned chunks by stream copy (no re-encoding).

The video's GOPs (runs of frames starting at a keyframe) are shared out over the chunks as
evenly as possible, so every chunk starts on a keyframe and decodes on its own. Each chunk is
re-timed to start at zero, making its bytes depend only on its own packets.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

from durable_sim.video.errors import ChunkCountError, InvalidVideoError
from durable_sim.video.mp4 import (
    first_video_stream,
    mux_packets,
    open_input,
    presentation_span,
    read_packets,
    shift_timestamps,
)
from durable_sim.video.probe import VideoInfo


@dataclass(frozen=True)
class ChunkSpan:
    """Frames [start, stop) of the source video that form one chunk."""

    start: int
    stop: int

    @property
    def frame_count(self) -> int:
        """Number of frames in the chunk."""
        return self.stop - self.start


def plan_chunks(info: VideoInfo, chunks: int) -> list[ChunkSpan]:
    """Share the GOPs of `info` over `chunks` chunks; raise `ChunkCountError` if impossible."""
    gops = len(info.keyframes)
    if isinstance(chunks, bool) or not isinstance(chunks, int) or not 1 <= chunks <= gops:
        raise ChunkCountError(
            f"chunks={chunks!r} does not fit this video: its {info.frame_count} frames form "
            f"{gops} keyframe-aligned segments (GOPs), so chunks must be an integer from 1 to "
            f"{gops}"
        )
    bounds = [*info.keyframes, info.frame_count]
    cuts = [bounds[i * gops // chunks] for i in range(chunks + 1)]
    return [ChunkSpan(start, stop) for start, stop in pairwise(cuts)]


def split_video(data: bytes, info: VideoInfo, chunks: int) -> list[tuple[ChunkSpan, bytes]]:
    """Cut `data` (described by `info`) into `chunks` independently decodable MP4 chunks."""
    spans = plan_chunks(info, chunks)
    with open_input(data) as container:
        stream = first_video_stream(container)
        packets = read_packets(container, stream)
        if len(packets) != info.frame_count:
            raise InvalidVideoError(
                f"video has {len(packets)} frames but its description says {info.frame_count}"
            )
        outputs = []
        for span in spans:
            group = packets[span.start : span.stop]
            start, _ = presentation_span(group)
            shift_timestamps(group, -start)
            outputs.append((span, mux_packets(stream, group)))
        return outputs
