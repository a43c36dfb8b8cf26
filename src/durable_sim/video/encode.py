"""Encoding one chunk on its own: decode it, re-encode it with libx264 at fixed parameters.

This is the fan-out unit of work. It depends only on the chunk's bytes and the parameters, so
any worker, in any order, on any retry, produces the same output bytes.
"""

from __future__ import annotations

from fractions import Fraction

from durable_sim.video.errors import InvalidVideoError
from durable_sim.video.h264 import EncodeParams, encode_frames
from durable_sim.video.mp4 import first_video_stream, open_input


def encode_chunk(data: bytes, params: EncodeParams) -> bytes:
    """Re-encode the chunk `data` to H.264 in MP4 with `params`; return the output bytes."""
    import av

    with open_input(data) as container:
        stream = first_video_stream(container)
        if not stream.average_rate:
            raise InvalidVideoError("chunk has no frame rate")
        try:
            return encode_frames(
                container.decode(stream),
                fps=Fraction(stream.average_rate),
                width=stream.codec_context.width,
                height=stream.codec_context.height,
                params=params,
            )
        except av.FFmpegError as exc:
            raise InvalidVideoError(f"chunk could not be decoded and re-encoded: {exc}") from exc
