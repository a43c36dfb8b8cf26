"""Encoders for the video pipeline: a cost model and the real PyAV/libx264 codec.

Both expose the same operations, take JSON data and return JSON data, and account the
profile's modeled cost of each operation as CPU work on the cores of whoever calls them
(`durable_sim.machine.Cpu`: the host's cores, or one Lambda invocation's vCPUs), on the
caller's clock (a durable step's branch clock, a baseline worker's clock). On a virtual clock
that booked work *is* the time, including any wait for a busy core. On a wall clock the real
encoder's work takes real time on the real cores and nothing is added, while the model encoder
books its modeled cost on the cores and sleeps until the booking ends, so modeled work takes
time (and contends) in a measured run too.

`split` returns a small manifest, not the chunk list, and `chunk(manifest, i)` resolves one
chunk: a durable checkpoint holds at most 256 KB, and 10,000 chunk references would not fit.

Failures are injected by the encoder itself, drawn per (chunk, attempt) from the seed, so the
durable and the baseline models meet exactly the same failures.

Every encoder counts the S3 requests its operations make in the deployed pipeline
(`S3Requests`, the encoder's ``s3``), the same for both encoders and both models, since the
video travels through S3 in both:

==========  ==============================================  ============  ==================
operation   reads and writes                                GET requests  PUT requests
==========  ==============================================  ============  ==================
validate    reads the source video                          1             0
split       reads the source, writes each chunk             1             chunks
encode      each attempt reads its chunk, writes its part   1             1
assemble    reads every part, writes the output             parts         1
==========  ==============================================  ============  ==================

A chunk's key is derived from the split's manifest and its index, so resolving it (`chunk`) makes
no request; an attempt that fails after its work has read and written as one that succeeds (the
real encoder writes the part before the injected failure). Without failures a run of ``n``
chunks makes ``2n + 2`` GETs and ``2n + 1`` PUTs; each retried attempt adds one of each.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from durable_sim.clock import Clock
from durable_sim.errors import DurableSimError
from durable_sim.latency import Sampler
from durable_sim.machine import Cpu
from durable_sim.video import BlobStore, ChunkEncoderPool, SourceSpec
from durable_sim.video import steps as video_steps


class TransientEncodeError(DurableSimError, RuntimeError):
    """An injected, retryable failure of one chunk encode attempt."""


@dataclass
class S3Requests:
    """S3 requests one run's encoder made (see the module docstring), safe across threads."""

    gets: int = 0
    puts: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def count(self, *, gets: int = 0, puts: int = 0) -> None:
        """Add `gets` GET and `puts` PUT requests."""
        with self._lock:
            self.gets += gets
            self.puts += puts


class Encoder(Protocol):
    """The video pipeline's operations on JSON data, as a durable step or a baseline worker
    calls them. `name` is ``"model"`` or ``"real"``; `s3` counts the S3 requests the
    operations made (the module docstring's table).

    Each operation that works books the profile's cost of that work on `cpu` from `clock`'s now
    (see the module docstring): ``validate`` (ms), ``split_per_s`` and ``assemble_per_s`` (ms
    per second of source video), ``encode_per_s`` (ms per second of the chunk); the numbers and
    their sources are the profile's (`durable_sim.latency`). Results are a few hundred bytes.
    """

    name: str
    s3: S3Requests

    def source(self) -> dict[str, Any]:
        """The input video: ``{"key", "frame_count", "duration_s"}`` (the real encoder also
        gives ``size_bytes``); the real encoder renders and stores it, at no modeled cost."""
        ...

    def validate(self, source: dict[str, Any], clock: Clock, cpu: Cpu) -> dict[str, Any]:
        """Check the `source` video; its metadata ``{"frame_count", "fps", "width", "height"}``
        (the real encoder's probe adds more). Books the ``validate`` cost; the real encoder
        raises `durable_sim.video.InvalidVideoError` for a video it cannot decode."""
        ...

    def split(self, source: dict[str, Any], chunks: int, clock: Clock, cpu: Cpu) -> dict[str, Any]:
        """Split `source` into `chunks` (1..frames) chunks; a manifest ``{"key", "count"}`` that
        `chunk` resolves. Books ``split_per_s`` for the video's length. A `chunks` out of range
        raises `ValueError` (the model encoder) or `durable_sim.video.ChunkCountError` (real)."""
        ...

    def chunk(self, manifest: dict[str, Any], index: int) -> dict[str, Any]:
        """Chunk `index` (0..count-1) of a `split` manifest: ``{"index", "key", "first_frame",
        "frame_count"}`` (frames of the source; the real encoder adds ``size_bytes``); no cost."""
        ...

    def encode(self, chunk: dict[str, Any], attempt: int, clock: Clock, cpu: Cpu) -> dict[str, Any]:
        """Encode `chunk` (`attempt`: 1 for the first try); ``{"chunk_key", "key"}`` of the
        encoded part (the real encoder adds ``size_bytes``). Books ``encode_per_s`` for the
        chunk's length, then raises `TransientEncodeError` if the seeded failure draw for
        (chunk, attempt) says so."""
        ...

    def assemble(
        self, parts: list[dict[str, Any]], source: dict[str, Any], clock: Clock, cpu: Cpu
    ) -> dict[str, Any]:
        """Join the encoded `parts` in chunk order into the output: ``{"key", "frame_count",
        "duration_s", "parts"}`` (`key` identifies the output's content). Books
        ``assemble_per_s`` for the video's length."""
        ...


def _digest(*parts: object) -> str:
    return hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()


@dataclass
class _Costs:
    """Profile costs of the video operations, and the failure draw, shared by both encoders."""

    sampler: Sampler
    failure_probability: float

    def model_work(
        self, clock: Clock, cpu: Cpu, cost: str, *key: object, seconds: float = 1.0
    ) -> None:
        """Modeled work: booked on `cpu` from `clock`'s now (slept for real on a wall clock)."""
        cpu.run(clock, self.sampler.draw(cost, "video", *key, scale=seconds))

    def after_real_work(
        self, clock: Clock, cpu: Cpu, cost: str, *key: object, seconds: float = 1.0
    ) -> None:
        """Real work just done: its modeled cost is booked on `cpu` for a virtual clock; on a
        wall clock the work itself took the time on the real cores, so nothing is added."""
        if clock.virtual:
            cpu.run(clock, self.sampler.draw(cost, "video", *key, scale=seconds))

    def maybe_fail(self, chunk_index: int, attempt: int) -> None:
        if self.failure_probability <= 0:
            return
        if self.sampler.uniform("encode-failure", chunk_index, attempt) < self.failure_probability:
            raise TransientEncodeError(
                f"injected failure encoding chunk {chunk_index} (attempt {attempt})"
            )


@dataclass
class ModelEncoder(Encoder):
    """No real frames: chunk and output identities are digests, time is the profile's cost."""

    spec: SourceSpec
    costs: _Costs
    name: str = "model"
    s3: S3Requests = field(default_factory=S3Requests)

    def source(self) -> dict[str, Any]:
        s = self.spec
        return {
            "key": _digest("model-source", s.duration_s, s.fps, s.width, s.height, s.gop_frames),
            "frame_count": s.frame_count,
            "duration_s": float(s.duration_s),
        }

    def validate(self, source: dict[str, Any], clock: Clock, cpu: Cpu) -> dict[str, Any]:
        self.s3.count(gets=1)
        self.costs.model_work(clock, cpu, "validate", source["key"])
        s = self.spec
        return {"frame_count": s.frame_count, "fps": s.fps, "width": s.width, "height": s.height}

    def split(self, source: dict[str, Any], chunks: int, clock: Clock, cpu: Cpu) -> dict[str, Any]:
        frames = self.spec.frame_count
        if not 1 <= chunks <= frames:
            raise ValueError(f"chunks={chunks} is outside the accepted range 1..{frames}")
        self.s3.count(gets=1)
        self.costs.model_work(
            clock, cpu, "split_per_s", source["key"], seconds=source["duration_s"]
        )
        self.s3.count(puts=chunks)
        return {"key": _digest("model-manifest", source["key"], chunks), "count": chunks}

    def chunk(self, manifest: dict[str, Any], index: int) -> dict[str, Any]:
        frames, count = self.spec.frame_count, manifest["count"]
        first, end = round(index * frames / count), round((index + 1) * frames / count)
        return {
            "index": index,
            "key": _digest("model-chunk", manifest["key"], index),
            "first_frame": first,
            "frame_count": end - first,
        }

    def encode(self, chunk: dict[str, Any], attempt: int, clock: Clock, cpu: Cpu) -> dict[str, Any]:
        seconds = chunk["frame_count"] / self.spec.fps
        self.s3.count(gets=1, puts=1)
        self.costs.model_work(clock, cpu, "encode_per_s", chunk["index"], attempt, seconds=seconds)
        self.costs.maybe_fail(chunk["index"], attempt)
        return {"chunk_key": chunk["key"], "key": _digest("model-encoded", chunk["key"])}

    def assemble(
        self, parts: list[dict[str, Any]], source: dict[str, Any], clock: Clock, cpu: Cpu
    ) -> dict[str, Any]:
        self.s3.count(gets=len(parts), puts=1)
        self.costs.model_work(
            clock, cpu, "assemble_per_s", source["key"], seconds=source["duration_s"]
        )
        return {
            "key": _digest("model-output", *(p["key"] for p in parts)),
            "frame_count": source["frame_count"],
            "duration_s": source["duration_s"],
            "parts": len(parts),
        }


@dataclass
class RealEncoder(Encoder):
    """Real frames through PyAV: blobs on disk, chunk encodes in this process or on `pool`
    (spawned worker processes, started and closed by its owner)."""

    spec: SourceSpec
    costs: _Costs
    store_root: Path
    pool: ChunkEncoderPool | None = None
    name: str = "real"
    s3: S3Requests = field(default_factory=S3Requests)

    def source(self) -> dict[str, Any]:
        s = self.spec
        ref = video_steps.make_source_step(
            self.store_root, s.duration_s, s.fps, s.width, s.height, s.gop_frames
        )
        return dict(ref)

    def validate(self, source: dict[str, Any], clock: Clock, cpu: Cpu) -> dict[str, Any]:
        info = video_steps.validate_step(self.store_root, source["key"])
        self.s3.count(gets=1)
        self.costs.after_real_work(clock, cpu, "validate", source["key"])
        return dict(info)

    def split(self, source: dict[str, Any], chunks: int, clock: Clock, cpu: Cpu) -> dict[str, Any]:
        refs = video_steps.split_step(self.store_root, source["key"], chunks)
        self.s3.count(gets=1, puts=len(refs))
        manifest = json.dumps(refs, separators=(",", ":")).encode()
        self.costs.after_real_work(
            clock, cpu, "split_per_s", source["key"], seconds=source["duration_s"]
        )
        return {"key": BlobStore(self.store_root).put(manifest), "count": len(refs)}

    def chunk(self, manifest: dict[str, Any], index: int) -> dict[str, Any]:
        refs: list[dict[str, Any]] = json.loads(BlobStore(self.store_root).get(manifest["key"]))
        return refs[index]

    def encode(self, chunk: dict[str, Any], attempt: int, clock: Clock, cpu: Cpu) -> dict[str, Any]:
        if self.pool is not None:
            (encoded,) = self.pool.encode(self.store_root, [chunk["key"]])
        else:
            encoded = video_steps.encode_step(self.store_root, chunk["key"])
        self.s3.count(gets=1, puts=1)
        seconds = chunk["frame_count"] / self.spec.fps
        self.costs.after_real_work(
            clock, cpu, "encode_per_s", chunk["index"], attempt, seconds=seconds
        )
        self.costs.maybe_fail(chunk["index"], attempt)
        return dict(encoded)

    def assemble(
        self, parts: list[dict[str, Any]], source: dict[str, Any], clock: Clock, cpu: Cpu
    ) -> dict[str, Any]:
        out = video_steps.assemble_step(self.store_root, [p["key"] for p in parts], source["key"])
        self.s3.count(gets=len(parts), puts=1)
        self.costs.after_real_work(
            clock, cpu, "assemble_per_s", source["key"], seconds=source["duration_s"]
        )
        return dict(out)


def make_encoder(
    kind: str,
    *,
    spec: SourceSpec,
    sampler: Sampler,
    failure_probability: float = 0.0,
    store_root: Path | None = None,
    pool: ChunkEncoderPool | None = None,
) -> ModelEncoder | RealEncoder:
    """An encoder by name: ``"model"`` or ``"real"`` (which needs a blob store directory and
    encodes on `pool` if one is given)."""
    costs = _Costs(sampler, failure_probability)
    if kind == "model":
        return ModelEncoder(spec, costs)
    if kind == "real":
        if store_root is None:
            raise ValueError("the real encoder needs store_root, a directory for its blobs")
        return RealEncoder(spec, costs, Path(store_root), pool)
    raise ValueError(f"unknown encoder {kind!r} (accepted: 'model', 'real')")
