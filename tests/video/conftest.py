"""Shared fixtures: a small synthetic video (2 s, 160x120, 4 GOPs) rendered once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from durable_sim.video import BlobStore, SourceSpec, make_source_video


@pytest.fixture(scope="session")
def small_spec() -> SourceSpec:
    """2 s at 30 fps, 160x120, GOP of 15 frames: 60 frames in 4 keyframe-aligned segments."""
    return SourceSpec(duration_s=2, fps=30, width=160, height=120, gop_frames=15)


@pytest.fixture(scope="session")
def small_video(small_spec: SourceSpec) -> bytes:
    """The small synthetic source video's bytes."""
    return make_source_video(small_spec)


@pytest.fixture
def store(tmp_path: Path) -> BlobStore:
    """An empty blob store in a fresh directory."""
    return BlobStore(tmp_path / "blobs")
