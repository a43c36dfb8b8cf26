from __future__ import annotations

import hashlib
from fractions import Fraction
from typing import Any

import pytest

from durable_sim.video import (
    AssemblyError,
    EncodeParams,
    InvalidVideoError,
    assemble,
    encode_chunk,
    probe,
    split_video,
    validate,
)

PARAMS = EncodeParams(preset="veryfast", crf=23, gop_frames=15)


@pytest.fixture(scope="module")
def encoded_parts(small_video: bytes) -> list[bytes]:
    chunks = split_video(small_video, probe(small_video), 4)
    return [encode_chunk(chunk, PARAMS) for _, chunk in chunks]


def test_encoded_chunk_is_a_valid_h264_video(encoded_parts: list[bytes]) -> None:
    info = validate(encoded_parts[0])
    assert (info.codec, info.frame_count, info.duration) == ("h264", 15, Fraction(1, 2))
    assert info.keyframes == (0,)


def test_encoding_is_repeatable(small_video: bytes, encoded_parts: list[bytes]) -> None:
    _, first_chunk = split_video(small_video, probe(small_video), 4)[0]
    assert encode_chunk(first_chunk, PARAMS) == encoded_parts[0]


def test_round_trip_keeps_frame_count_and_duration(
    small_video: bytes, encoded_parts: list[bytes]
) -> None:
    source = probe(small_video)
    output = assemble(encoded_parts, source)
    info = validate(output)
    assert (info.frame_count, info.duration) == (60, Fraction(2))
    assert info.keyframes == (0, 15, 30, 45)
    again = assemble([bytes(part) for part in encoded_parts], source)
    assert hashlib.sha256(again).hexdigest() == hashlib.sha256(output).hexdigest()


def test_missing_part_fails_verification(small_video: bytes, encoded_parts: list[bytes]) -> None:
    with pytest.raises(AssemblyError, match=r"45 frames / 1\.5 s, the source has 60 frames"):
        assemble(encoded_parts[:3], probe(small_video))


def test_parts_from_different_settings_are_refused(
    small_video: bytes, encoded_parts: list[bytes]
) -> None:
    _, chunk = split_video(small_video, probe(small_video), 4)[1]
    odd_part = encode_chunk(chunk, EncodeParams(preset="ultrafast", crf=40, gop_frames=15))
    with pytest.raises(AssemblyError, match="part 1 was encoded with different stream parameters"):
        assemble([encoded_parts[0], odd_part, *encoded_parts[2:]], probe(small_video))


def test_bad_parts_are_refused(small_video: bytes, encoded_parts: list[bytes]) -> None:
    with pytest.raises(AssemblyError, match="no parts"):
        assemble([], probe(small_video))
    with pytest.raises(AssemblyError, match="part 2 is not a valid video"):
        assemble([*encoded_parts[:2], b"junk", encoded_parts[3]], probe(small_video))


def test_corrupt_chunk_cannot_be_encoded() -> None:
    with pytest.raises(InvalidVideoError, match="not a readable video"):
        encode_chunk(b"\x00" * 1000, PARAMS)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"preset": "warp"}, "preset='warp'"), ({"crf": 52}, "crf=52"), ({"gop_frames": 0}, "gop")],
)
def test_bad_encode_params_are_rejected(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        EncodeParams(**kwargs)
