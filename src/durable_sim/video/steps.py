"""The pipeline's steps as plain functions with JSON-serializable arguments and results.

Each function is one unit a durable step (or a baseline worker) calls. Video bytes never pass
through arguments or results: they live in the blob store at `store_root` and travel as keys,
so every result is a few hundred bytes, far below the 256 KB checkpoint limit. Every function
is deterministic and idempotent: called again with the same arguments (a retry or a replay), it
returns the same result and leaves the store unchanged.
"""

from __future__ import annotations

import os
from typing import TypedDict

from durable_sim.video.assemble import assemble
from durable_sim.video.blobstore import BlobStore
from durable_sim.video.encode import encode_chunk
from durable_sim.video.h264 import EncodeParams
from durable_sim.video.probe import VideoInfoDict, probe, validate
from durable_sim.video.source import SourceSpec, make_source_video
from durable_sim.video.split import split_video

StoreRoot = str | os.PathLike[str]
DEFAULT_SOURCE = SourceSpec()
DEFAULT_ENCODE = EncodeParams()


class SourceRef(TypedDict):
    """The stored synthetic input video."""

    key: str
    size_bytes: int
    frame_count: int
    duration_s: float


class ChunkRef(TypedDict):
    """One stored chunk of the input: source frames [first_frame, first_frame + frame_count)."""

    index: int
    key: str
    first_frame: int
    frame_count: int
    size_bytes: int


class EncodedChunk(TypedDict):
    """One stored encoded chunk and the chunk it was encoded from."""

    chunk_key: str
    key: str
    size_bytes: int


class AssembledVideo(TypedDict):
    """The stored, verified output video; `key` is the sha256 digest of its bytes."""

    key: str
    size_bytes: int
    frame_count: int
    duration_s: float
    parts: int


def make_source_step(
    store_root: StoreRoot,
    duration_s: int = DEFAULT_SOURCE.duration_s,
    fps: int = DEFAULT_SOURCE.fps,
    width: int = DEFAULT_SOURCE.width,
    height: int = DEFAULT_SOURCE.height,
    gop_frames: int = DEFAULT_SOURCE.gop_frames,
) -> SourceRef:
    """Render the synthetic input video and store it."""
    spec = SourceSpec(duration_s, fps, width, height, gop_frames)
    data = make_source_video(spec)
    return SourceRef(
        key=BlobStore(store_root).put(data),
        size_bytes=len(data),
        frame_count=spec.frame_count,
        duration_s=float(spec.duration_s),
    )


def validate_step(store_root: StoreRoot, key: str) -> VideoInfoDict:
    """Validate the stored video `key` (raises `InvalidVideoError`) and return its metadata."""
    return validate(BlobStore(store_root).get(key)).to_dict()


def split_step(store_root: StoreRoot, key: str, chunks: int) -> list[ChunkRef]:
    """Split the stored video `key` into `chunks` keyframe-aligned chunks and store them."""
    store = BlobStore(store_root)
    data = store.get(key)
    return [
        ChunkRef(
            index=index,
            key=store.put(chunk),
            first_frame=span.start,
            frame_count=span.frame_count,
            size_bytes=len(chunk),
        )
        for index, (span, chunk) in enumerate(split_video(data, probe(data), chunks))
    ]


def encode_step(
    store_root: StoreRoot,
    chunk_key: str,
    preset: str = DEFAULT_ENCODE.preset,
    crf: int = DEFAULT_ENCODE.crf,
    gop_frames: int = DEFAULT_ENCODE.gop_frames,
) -> EncodedChunk:
    """Encode the stored chunk `chunk_key` with libx264 and store the result."""
    store = BlobStore(store_root)
    encoded = encode_chunk(store.get(chunk_key), EncodeParams(preset, crf, gop_frames))
    return EncodedChunk(chunk_key=chunk_key, key=store.put(encoded), size_bytes=len(encoded))


def assemble_step(store_root: StoreRoot, part_keys: list[str], source_key: str) -> AssembledVideo:
    """Join the stored encoded parts in order, verify against the source, store the output."""
    store = BlobStore(store_root)
    source = probe(store.get(source_key))
    output = assemble([store.get(key) for key in part_keys], source)
    return AssembledVideo(
        key=store.put(output),
        size_bytes=len(output),
        frame_count=source.frame_count,
        duration_s=float(source.duration),
        parts=len(part_keys),
    )
