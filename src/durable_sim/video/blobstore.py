"""Content-addressed blob store on a local directory, standing in for S3.

Video bytes travel between pipeline steps by reference (a sha256 key) so that step results stay
small enough for durable checkpoints. Writes go through the package's one atomic writer
(`durable_sim.files.write_bytes_atomic`): a reader never sees a half-written blob and a failed
write leaves no file behind. (A process killed mid-write can leave a hidden ``.<key>.*.tmp``
file, which is never read as a blob.)
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from durable_sim.files import write_bytes_atomic
from durable_sim.video.errors import BlobNotFoundError

_KEY_PATTERN = re.compile(r"[0-9a-f]{64}")


def blob_key(data: bytes) -> str:
    """The key a blob of `data` is stored under: its sha256 hex digest."""
    return hashlib.sha256(data).hexdigest()


class BlobStore:
    """Blobs stored as files named by their sha256 hex digest under the directory `root`."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self._root = Path(root)
        self._root.mkdir(parents=True, exist_ok=True)

    @property
    def root(self) -> Path:
        """The directory holding the blobs."""
        return self._root

    def __repr__(self) -> str:
        return f"BlobStore({str(self._root)!r})"

    def path(self, key: str) -> Path:
        """The file that holds (or would hold) the blob `key`."""
        if not _KEY_PATTERN.fullmatch(key):
            raise ValueError(f"not a blob key (64 lowercase hex characters): {key!r}")
        return self.root / key

    def put(self, data: bytes) -> str:
        """Store `data` and return its key; storing the same bytes again is a no-op."""
        key = blob_key(data)
        target = self.path(key)
        if target.exists():
            return key
        write_bytes_atomic(target, data)
        return key

    def get(self, key: str) -> bytes:
        """The bytes stored under `key`."""
        try:
            return self.path(key).read_bytes()
        except FileNotFoundError:
            raise BlobNotFoundError(f"no blob {key} in {self.root}") from None

    def __contains__(self, key: object) -> bool:
        return (
            isinstance(key, str)
            and _KEY_PATTERN.fullmatch(key) is not None
            and (self.root / key).is_file()
        )
