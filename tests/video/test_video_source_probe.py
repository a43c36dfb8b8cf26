from __future__ import annotations

import io
import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from fractions import Fraction

import av
import numpy as np
import pytest

from durable_sim.video import InvalidVideoError, SourceSpec, make_source_video, probe, validate


def test_source_matches_its_spec(small_spec: SourceSpec, small_video: bytes) -> None:
    info = validate(small_video)
    assert (info.codec, info.width, info.height) == ("h264", 160, 120)
    assert info.fps == 30
    assert info.frame_count == small_spec.frame_count == 60
    assert info.duration == Fraction(2)
    assert info.keyframes == (0, 15, 30, 45)
    assert len(info.keyframes) == small_spec.gop_count


@pytest.mark.parametrize(
    ("spec", "gops"),
    [
        (SourceSpec(duration_s=1), 1),  # the reviewer's: 30 frames, one GOP
        (SourceSpec(duration_s=10), 10),
        (SourceSpec(duration_s=1, gop_frames=20), 2),  # a last, shorter GOP counts
        (SourceSpec(duration_s=2, fps=10, gop_frames=100), 1),
    ],
)
def test_gop_count_is_the_keyframes_of_the_fixed_gop_layout(spec: SourceSpec, gops: int) -> None:
    assert spec.gop_count == gops == len(range(0, spec.frame_count, spec.gop_frames))


def test_source_bytes_repeat_within_and_across_processes(
    small_spec: SourceSpec, small_video: bytes
) -> None:
    assert make_source_video(small_spec) == small_video
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as executor:
        assert executor.submit(make_source_video, small_spec).result() == small_video


def test_video_info_summary_is_json_friendly(small_video: bytes) -> None:
    summary = probe(small_video).to_dict()
    assert summary["frame_count"] == 60
    assert summary["duration_s"] == 2.0
    assert summary["keyframe_count"] == 4
    assert all(isinstance(value, str | int | float) for value in summary.values())


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [("duration_s", 0, "duration_s=0"), ("fps", -1, "fps=-1"), ("width", 161, "must be even")],
)
def test_bad_source_spec_is_rejected(field: str, value: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SourceSpec(**{field: value})


def _mpeg4_in_matroska() -> bytes:
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="matroska") as output:
        stream = output.add_stream("mpeg4", rate=30)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for index in range(5):
            frame = av.VideoFrame.from_ndarray(
                np.full((48, 64, 3), index * 40, dtype=np.uint8), format="rgb24"
            ).reformat(format="yuv420p")
            frame.pts = index
            output.mux(stream.encode(frame))
        output.mux(stream.encode(None))
    return buffer.getvalue()


def test_unsupported_container_and_codec_are_named() -> None:
    with pytest.raises(InvalidVideoError, match=r"container is 'matroska.*codec is 'mpeg4'"):
        validate(_mpeg4_in_matroska())


def _zero_middle(data: bytes) -> bytes:
    middle = len(data) // 3
    return data[:middle] + bytes(3000) + data[middle + 3000 :]


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda data: b"", "empty"),
        (lambda data: bytes(range(256)) * 8, "not a readable video"),
        (lambda data: data[: len(data) // 2], "not a readable video"),
        (_zero_middle, "not a decodable video"),
    ],
    ids=["empty", "junk", "truncated", "corrupt-frames"],
)
def test_bad_input_gives_one_clear_error(
    small_video: bytes, damage: Callable[[bytes], bytes], message: str
) -> None:
    with pytest.raises(InvalidVideoError, match=message):
        validate(damage(small_video))
