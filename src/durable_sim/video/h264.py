"""Fixed-parameter libx264 encoding of decoded frames into MP4 bytes.

Output bytes are repeatable because every input that could vary is pinned: x264 runs with one
thread, frames are re-stamped with pts 0, 1, 2, ... in a 1/fps time base, keyframes come only
from the fixed GOP (no scene-cut detection, and the source frame's picture type is cleared so a
decoded I-frame does not force one), there are no B-frames, and the muxer runs bitexact.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING

from durable_sim.video.mp4 import BITEXACT, MP4_FORMAT

if TYPE_CHECKING:
    from av.video.frame import VideoFrame

PRESETS = (
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
)


@dataclass(frozen=True)
class EncodeParams:
    """libx264 settings: speed preset, constant rate factor (0-51), GOP length in frames."""

    preset: str = "veryfast"
    crf: int = 23
    gop_frames: int = 30

    def __post_init__(self) -> None:
        if self.preset not in PRESETS:
            raise ValueError(f"preset={self.preset!r} is not one of {', '.join(PRESETS)}")
        if not 0 <= self.crf <= 51:
            raise ValueError(f"crf={self.crf} is outside the accepted range 0-51")
        if self.gop_frames < 1:
            raise ValueError(f"gop_frames={self.gop_frames} must be at least 1")

    def x264_params(self) -> str:
        """The x264 option string that pins GOP structure and threading."""
        gop = self.gop_frames
        return f"keyint={gop}:min-keyint={gop}:scenecut=0:bframes=0:threads=1"


def encode_frames(
    frames: Iterable[VideoFrame], *, fps: Fraction, width: int, height: int, params: EncodeParams
) -> bytes:
    """Encode `frames` (any pixel format, `width`x`height`) to H.264 in MP4 at `fps`."""
    import av
    from av.video.frame import PictureType

    buffer = io.BytesIO()
    time_base = 1 / fps
    with av.open(buffer, mode="w", format=MP4_FORMAT, options=BITEXACT) as output:
        stream = output.add_stream(
            "libx264",
            rate=fps,
            options={
                "preset": params.preset,
                "crf": str(params.crf),
                "x264-params": params.x264_params(),
            },
        )
        stream.width = width
        stream.height = height
        stream.pix_fmt = "yuv420p"
        stream.time_base = time_base
        context = stream.codec_context
        context.thread_count = 1
        context.flags |= av.codec.context.Flags.bitexact
        for index, frame in enumerate(frames):
            if frame.format.name != "yuv420p":
                frame = frame.reformat(format="yuv420p")
            frame.pts = index
            frame.time_base = time_base
            frame.pict_type = PictureType.NONE
            output.mux(stream.encode(frame))
        output.mux(stream.encode(None))
    return buffer.getvalue()
