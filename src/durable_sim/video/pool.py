"""Fan-out of chunk encodes over worker processes, and the equivalent serial path.

Workers are started with the `spawn` method: a forked child inherits the parent's FFmpeg state
and hangs if the parent holds an open lavfi container. Jobs carry only the store path and blob
keys; workers read and write the blob store themselves. Since `encode_step` is deterministic,
results do not depend on the number of workers or the order in which they finish, and are
returned in the order of the keys given.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from types import TracebackType

from durable_sim.video.h264 import EncodeParams
from durable_sim.video.steps import DEFAULT_ENCODE, EncodedChunk, StoreRoot, encode_step


def encode_chunks_serial(
    store_root: StoreRoot, chunk_keys: Sequence[str], params: EncodeParams = DEFAULT_ENCODE
) -> list[EncodedChunk]:
    """Encode the stored chunks one after another in this process."""
    return [
        encode_step(store_root, key, params.preset, params.crf, params.gop_frames)
        for key in chunk_keys
    ]


class ChunkEncoderPool:
    """A pool of `workers` spawned processes that encode stored chunks in parallel."""

    def __init__(self, workers: int) -> None:
        if workers < 1:
            raise ValueError(f"workers={workers} must be at least 1")
        self._executor = ProcessPoolExecutor(
            max_workers=workers, mp_context=multiprocessing.get_context("spawn")
        )

    def encode(
        self,
        store_root: StoreRoot,
        chunk_keys: Sequence[str],
        params: EncodeParams = DEFAULT_ENCODE,
    ) -> list[EncodedChunk]:
        """Encode the stored chunks in parallel; results in the order of `chunk_keys`."""
        futures = [
            self._executor.submit(
                encode_step, store_root, key, params.preset, params.crf, params.gop_frames
            )
            for key in chunk_keys
        ]
        try:
            return [future.result() for future in futures]
        finally:
            for future in futures:
                future.cancel()

    def close(self) -> None:
        """Stop the worker processes."""
        self._executor.shutdown()

    def __enter__(self) -> ChunkEncoderPool:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
