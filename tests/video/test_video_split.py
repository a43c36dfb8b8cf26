from __future__ import annotations

import io
from typing import Any

import av
import numpy as np
import pytest

from durable_sim.video import ChunkCountError, ChunkSpan, plan_chunks, probe, split_video, validate


def _frames(data: bytes) -> list[np.ndarray]:
    with av.open(io.BytesIO(data), mode="r") as container:
        return [frame.to_ndarray() for frame in container.decode(video=0)]


@pytest.mark.parametrize(
    ("chunks", "spans"),
    [
        (1, [(0, 60)]),
        (2, [(0, 30), (30, 60)]),
        (3, [(0, 15), (15, 30), (30, 60)]),
        (4, [(0, 15), (15, 30), (30, 45), (45, 60)]),
    ],
)
def test_plan_shares_whole_gops(
    small_video: bytes, chunks: int, spans: list[tuple[int, int]]
) -> None:
    assert plan_chunks(probe(small_video), chunks) == [ChunkSpan(*span) for span in spans]


@pytest.mark.parametrize("chunks", [0, -1, 5, 61, 2.0, True])
def test_chunk_count_outside_range_is_named(small_video: bytes, chunks: Any) -> None:
    with pytest.raises(ChunkCountError, match=r"chunks=.* must be an integer from 1 to 4"):
        split_video(small_video, probe(small_video), chunks)


def test_chunks_are_keyframe_aligned_independent_and_lossless(small_video: bytes) -> None:
    source_frames = _frames(small_video)
    chunks = split_video(small_video, probe(small_video), 4)
    for span, data in chunks:
        info = validate(data)  # decodes every frame of the chunk on its own
        assert info.keyframes[0] == 0
        assert info.frame_count == span.frame_count == 15
        chunk_frames = _frames(data)
        expected = source_frames[span.start : span.stop]
        assert all(np.array_equal(a, b) for a, b in zip(chunk_frames, expected, strict=True))
