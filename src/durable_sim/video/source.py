"""The deterministic synthetic input video: FFmpeg's `testsrc2` pattern, encoded once.

`testsrc2` renders a moving test pattern with a frame counter, so every frame differs and each
chunk is real work for the encoder. The lavfi source is opened, drained and closed inside one
call, so no lavfi container is ever open across a process fork.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from durable_sim.video.h264 import EncodeParams, encode_frames

SOURCE_PRESET = "veryfast"
SOURCE_CRF = 18


@dataclass(frozen=True)
class SourceSpec:
    """Shape of the synthetic video; the defaults are the paper's 10 s clip (10 x 1 s GOPs)."""

    duration_s: int = 10
    fps: int = 30
    width: int = 640
    height: int = 360
    gop_frames: int = 30

    def __post_init__(self) -> None:
        for name in ("duration_s", "fps", "width", "height", "gop_frames"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)} must be at least 1")
        if self.width % 2 or self.height % 2:
            raise ValueError(f"size {self.width}x{self.height} must be even (yuv420p)")

    @property
    def frame_count(self) -> int:
        """Number of frames in the video."""
        return self.duration_s * self.fps

    @property
    def gop_count(self) -> int:
        """Number of GOPs (keyframe-aligned segments) `make_source_video` gives the video: a
        keyframe every `gop_frames` frames and no other (x264 ``keyint=min-keyint``,
        ``scenecut=0``: `durable_sim.video.h264`), so ``ceil(frame_count / gop_frames)``. The
        most chunks `durable_sim.video.split` can cut it into."""
        return -(-self.frame_count // self.gop_frames)

    def lavfi_graph(self) -> str:
        """The lavfi source description FFmpeg renders the frames from."""
        size = f"{self.width}x{self.height}"
        return f"testsrc2=size={size}:rate={self.fps}:duration={self.duration_s}"


def make_source_video(spec: SourceSpec) -> bytes:
    """Render and encode the synthetic video (H.264 in MP4, GOP of `spec.gop_frames`)."""
    import av

    params = EncodeParams(preset=SOURCE_PRESET, crf=SOURCE_CRF, gop_frames=spec.gop_frames)
    with av.open(spec.lavfi_graph(), format="lavfi") as lavfi:
        return encode_frames(
            lavfi.decode(video=0),
            fps=Fraction(spec.fps),
            width=spec.width,
            height=spec.height,
            params=params,
        )
