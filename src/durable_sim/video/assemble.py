"""Assembling encoded chunks into one video and verifying it against the source.

Parts are joined by stream copy: each part's packets are shifted by the total duration of the
parts before it and muxed into one MP4. This is only valid when all parts come from the same
encoder settings, so their stream parameters (codec headers, size, rate, time base) are checked
to be identical first. The result is then decoded in full and must have exactly the source's
frame count and duration.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack
from typing import TYPE_CHECKING

from durable_sim.video.errors import AssemblyError, InvalidVideoError
from durable_sim.video.mp4 import (
    first_video_stream,
    mux_packets,
    open_input,
    presentation_span,
    read_packets,
    shift_timestamps,
)
from durable_sim.video.probe import VideoInfo, decoded_frame_count, probe

if TYPE_CHECKING:
    from av.video.stream import VideoStream


def _stream_signature(stream: VideoStream) -> tuple[object, ...]:
    """What must match between parts for their packets to share one stream."""
    context = stream.codec_context
    return (
        context.name,
        context.extradata,
        context.width,
        context.height,
        stream.average_rate,
        stream.time_base,
    )


def concat_parts(parts: Sequence[bytes]) -> bytes:
    """Join encoded MP4 `parts`, in order, into one MP4 with continuous timestamps."""
    if not parts:
        raise AssemblyError("nothing to assemble: no parts given")
    with ExitStack() as stack:
        containers = []
        streams = []
        for index, part in enumerate(parts):
            try:
                container = stack.enter_context(open_input(part))
                streams.append(first_video_stream(container))
            except InvalidVideoError as exc:
                raise AssemblyError(f"part {index} is not a valid video: {exc}") from exc
            containers.append(container)
        expected = _stream_signature(streams[0])
        for index, stream in enumerate(streams[1:], start=1):
            if _stream_signature(stream) != expected:
                raise AssemblyError(
                    f"part {index} was encoded with different stream parameters than part 0"
                )
        shifted = []
        offset = 0
        for index, (container, stream) in enumerate(zip(containers, streams, strict=True)):
            try:
                packets = read_packets(container, stream)
                start, end = presentation_span(packets)
            except InvalidVideoError as exc:
                raise AssemblyError(f"part {index} is not a valid video: {exc}") from exc
            shift_timestamps(packets, offset - start)
            shifted.extend(packets)
            offset += end - start
        return mux_packets(streams[0], shifted)


def verify_against(output: bytes, source: VideoInfo) -> VideoInfo:
    """Check `output` decodes to the source's frame count and duration; return its info."""
    try:
        info = probe(output)
        decoded = decoded_frame_count(output)
    except InvalidVideoError as exc:
        raise AssemblyError(f"assembled output is not a valid video: {exc}") from exc
    if decoded != source.frame_count or info.duration != source.duration:
        raise AssemblyError(
            f"assembled output has {decoded} frames / {float(info.duration)} s, "
            f"the source has {source.frame_count} frames / {float(source.duration)} s"
        )
    return info


def assemble(parts: Sequence[bytes], source: VideoInfo) -> bytes:
    """Join encoded `parts` and verify the result against `source`; return the output bytes."""
    output = concat_parts(parts)
    verify_against(output, source)
    return output
