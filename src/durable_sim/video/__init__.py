"""The real video codec layer of the Phase 2 pipeline (PyAV / FFmpeg / libx264).

Validate metadata, split a video into keyframe-aligned chunks, encode the chunks independently
(in parallel worker processes or serially), and assemble and verify the output. The `*_step`
functions are the workflow-facing API: JSON-serializable arguments and small JSON-serializable
results, with video bytes kept in a content-addressed `BlobStore` and passed by key.

PyAV (``av``) is imported by the functions that call FFmpeg, not with these modules: a process
that runs the model encoder only (a sweep's worker) never loads it.
"""

from durable_sim.video.assemble import assemble, concat_parts, verify_against
from durable_sim.video.blobstore import BlobStore, blob_key
from durable_sim.video.encode import encode_chunk
from durable_sim.video.errors import (
    AssemblyError,
    BlobNotFoundError,
    ChunkCountError,
    InvalidVideoError,
    VideoError,
)
from durable_sim.video.h264 import EncodeParams
from durable_sim.video.pool import ChunkEncoderPool, encode_chunks_serial
from durable_sim.video.probe import VideoInfo, VideoInfoDict, probe, validate
from durable_sim.video.source import SourceSpec, make_source_video
from durable_sim.video.split import ChunkSpan, plan_chunks, split_video
from durable_sim.video.steps import (
    AssembledVideo,
    ChunkRef,
    EncodedChunk,
    SourceRef,
    assemble_step,
    encode_step,
    make_source_step,
    split_step,
    validate_step,
)

__all__ = [
    "AssembledVideo",
    "AssemblyError",
    "BlobNotFoundError",
    "BlobStore",
    "ChunkCountError",
    "ChunkEncoderPool",
    "ChunkRef",
    "ChunkSpan",
    "EncodeParams",
    "EncodedChunk",
    "InvalidVideoError",
    "SourceRef",
    "SourceSpec",
    "VideoError",
    "VideoInfo",
    "VideoInfoDict",
    "assemble",
    "assemble_step",
    "blob_key",
    "concat_parts",
    "encode_chunk",
    "encode_chunks_serial",
    "encode_step",
    "make_source_step",
    "make_source_video",
    "plan_chunks",
    "probe",
    "split_step",
    "split_video",
    "validate",
    "validate_step",
    "verify_against",
]
