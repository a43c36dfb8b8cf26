from __future__ import annotations

import json
from pathlib import Path

import pytest

from durable_sim.video import (
    BlobNotFoundError,
    BlobStore,
    ChunkEncoderPool,
    EncodeParams,
    InvalidVideoError,
    assemble_step,
    encode_chunks_serial,
    make_source_step,
    split_step,
    validate_step,
)

CHECKPOINT_LIMIT = 256 * 1024
PARAMS = EncodeParams(gop_frames=15)


@pytest.fixture(scope="module")
def pipeline_root(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("pipeline") / "blobs")


@pytest.fixture(scope="module")
def chunk_keys(pipeline_root: str) -> list[str]:
    source = make_source_step(pipeline_root, duration_s=2, width=160, height=120, gop_frames=15)
    return [ref["key"] for ref in split_step(pipeline_root, source["key"], 4)]


def _json_size(result: object) -> int:
    return len(json.dumps(result).encode())


def test_steps_exchange_small_json_and_round_trip(tmp_path: Path) -> None:
    root = str(tmp_path / "blobs")
    source = make_source_step(root, duration_s=2, width=160, height=120, gop_frames=15)
    info = validate_step(root, source["key"])
    chunks = split_step(root, source["key"], 4)
    encoded = encode_chunks_serial(root, [ref["key"] for ref in chunks], PARAMS)
    output = assemble_step(root, [part["key"] for part in encoded], source["key"])
    for result in (source, info, chunks, *encoded, output):
        assert json.loads(json.dumps(result)) == result
        assert _json_size(result) < 1024
    assert [ref["first_frame"] for ref in chunks] == [0, 15, 30, 45]
    assert (output["frame_count"], output["duration_s"]) == (60, 2.0)
    assert validate_step(root, output["key"])["frame_count"] == 60


def test_steps_are_idempotent(pipeline_root: str, chunk_keys: list[str]) -> None:
    files_before = sorted(Path(pipeline_root).iterdir())
    source = make_source_step(pipeline_root, duration_s=2, width=160, height=120, gop_frames=15)
    assert [ref["key"] for ref in split_step(pipeline_root, source["key"], 4)] == chunk_keys
    assert sorted(Path(pipeline_root).iterdir()) == files_before


def test_pool_matches_serial_in_any_order(pipeline_root: str, chunk_keys: list[str]) -> None:
    serial = encode_chunks_serial(pipeline_root, chunk_keys, PARAMS)
    with ChunkEncoderPool(2) as pool:
        parallel = pool.encode(pipeline_root, chunk_keys, PARAMS)
        reversed_order = pool.encode(pipeline_root, chunk_keys[::-1], PARAMS)
    assert parallel == serial
    assert reversed_order == serial[::-1]


def test_pool_reports_worker_errors(pipeline_root: str) -> None:
    not_a_video = BlobStore(pipeline_root).put(b"not a video")
    with ChunkEncoderPool(1) as pool, pytest.raises(InvalidVideoError, match="not a readable"):
        pool.encode(pipeline_root, [not_a_video], PARAMS)
    with pytest.raises(ValueError, match="workers=0"):
        ChunkEncoderPool(0)


def test_missing_blob_is_reported(tmp_path: Path) -> None:
    with pytest.raises(BlobNotFoundError):
        validate_step(str(tmp_path), "f" * 64)


def test_paper_pipeline_10s_10_chunks_360p(tmp_path: Path) -> None:
    root = str(tmp_path / "blobs")
    source = make_source_step(root)
    info = validate_step(root, source["key"])
    assert (info["width"], info["height"], info["frame_count"]) == (640, 360, 300)
    chunks = split_step(root, source["key"], 10)
    assert [ref["frame_count"] for ref in chunks] == [30] * 10
    with ChunkEncoderPool(2) as pool:
        encoded = pool.encode(root, [ref["key"] for ref in chunks])
    output = assemble_step(root, [part["key"] for part in encoded], source["key"])
    assert (output["frame_count"], output["duration_s"]) == (300, 10.0)
    assert _json_size(chunks) < CHECKPOINT_LIMIT
    assert make_source_step(root) == source
