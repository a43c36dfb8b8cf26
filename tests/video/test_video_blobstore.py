from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from durable_sim.video import BlobNotFoundError, BlobStore


def test_put_get_round_trip_keyed_by_sha256(store: BlobStore) -> None:
    key = store.put(b"chunk bytes")
    assert key == hashlib.sha256(b"chunk bytes").hexdigest()
    assert store.get(key) == b"chunk bytes"
    assert key in store


def test_put_is_idempotent(store: BlobStore) -> None:
    assert store.put(b"same") == store.put(b"same")
    assert len(list(store.root.iterdir())) == 1


def test_missing_and_malformed_keys(store: BlobStore) -> None:
    with pytest.raises(BlobNotFoundError, match="no blob"):
        store.get("0" * 64)
    with pytest.raises(ValueError, match="not a blob key"):
        store.get("../etc/passwd")
    assert "0" * 64 not in store


def test_failed_write_leaves_no_file(store: BlobStore, monkeypatch: pytest.MonkeyPatch) -> None:
    def failing_fsync(fd: int) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="disk full"):
        store.put(b"never stored")
    assert list(store.root.iterdir()) == []


def test_store_accepts_a_path_string(tmp_path: Path) -> None:
    store = BlobStore(str(tmp_path / "nested" / "blobs"))
    assert store.get(store.put(b"x")) == b"x"
