"""In-memory MP4 reading and stream-copy writing, shared by split and assemble.

Both work on compressed packets only (no re-encoding), so they are fast and lossless. Outputs
are written with FFmpeg's bitexact flag so that identical packets give identical bytes.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from durable_sim.video.errors import InvalidVideoError

if TYPE_CHECKING:
    import av
    from av.container import InputContainer
    from av.video.stream import VideoStream

MP4_FORMAT = "mp4"
BITEXACT = {"fflags": "+bitexact"}


def open_input(data: bytes) -> InputContainer:
    """Open video bytes for reading; unreadable bytes raise `InvalidVideoError`."""
    import av

    if not data:
        raise InvalidVideoError("not a readable video: the input is empty")
    try:
        return av.open(io.BytesIO(data), mode="r")
    except av.FFmpegError as exc:
        raise InvalidVideoError(f"not a readable video ({len(data)} bytes): {exc}") from exc


def first_video_stream(container: InputContainer) -> VideoStream:
    """The container's first video stream; a container without one is invalid."""
    if not container.streams.video:
        raise InvalidVideoError("not a video: the container has no video stream")
    return container.streams.video[0]


def read_packets(container: InputContainer, stream: VideoStream) -> list[av.Packet]:
    """The packets of `stream` in decode order, without the demuxer's empty flush packet."""
    import av

    try:
        packets = [packet for packet in container.demux(stream) if packet.size]
    except av.FFmpegError as exc:
        raise InvalidVideoError(f"not a readable video: demuxing failed: {exc}") from exc
    if not packets:
        raise InvalidVideoError("not a video: the video stream has no frames")
    return packets


def _timing(packet: av.Packet) -> tuple[int, int, int]:
    """A packet's (pts, dts, duration); a packet missing any of them is invalid."""
    if packet.pts is None or packet.dts is None or packet.duration is None:
        raise InvalidVideoError("unsupported video: a packet has no timestamps or duration")
    return packet.pts, packet.dts, packet.duration


def presentation_span(packets: Sequence[av.Packet]) -> tuple[int, int]:
    """First presentation timestamp and the end of the last frame, in stream time base."""
    timings = [_timing(packet) for packet in packets]
    return min(pts for pts, _, _ in timings), max(pts + duration for pts, _, duration in timings)


def shift_timestamps(packets: Iterable[av.Packet], delta: int) -> None:
    """Move every packet `delta` ticks later (earlier if negative) on the timeline."""
    for packet in packets:
        pts, dts, _ = _timing(packet)
        packet.pts = pts + delta
        packet.dts = dts + delta


def mux_packets(template: VideoStream, packets: Iterable[av.Packet]) -> bytes:
    """Write `packets` (already re-timed) into a new MP4 whose stream copies `template`."""
    import av

    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format=MP4_FORMAT, options=BITEXACT) as output:
        stream = output.add_stream_from_template(template)
        stream.time_base = template.time_base
        for packet in packets:
            packet.stream = stream
            output.mux(packet)
    return buffer.getvalue()
