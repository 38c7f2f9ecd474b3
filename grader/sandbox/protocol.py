"""The wire format between the grader and the sandboxed child: JSON headers and raw array buffers.

No pickle, ever: what the child sends is untrusted data. A frame is

    b"SLB1" | header length (uint32, little-endian) | header (UTF-8 JSON) | buffer 0 | buffer 1 | ...

The header is ``{"id": int, "body": <JSON>, "arrays": [{"dtype": "float32", "shape": [2, 3]}, ...]}``;
inside ``body`` an array appears as ``{"$array": i}``. Buffers are C-contiguous little-endian bytes,
decoded with ``numpy.frombuffer`` after checking, before anything is allocated, that the dtype is in
a whitelist, the shape is sane and the total size is within the reader's limits. Anything else is a
:class:`ProtocolError`, which the grader turns into a failed check.

This module is copied into the child's folder and must import nothing but the standard library and
numpy.
"""

from __future__ import annotations

import json
import math
import os
import select
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

MAGIC = b"SLB1"
_PREFIX = struct.Struct("<4sI")
#: dtype name -> numpy dtype (explicitly little-endian): the only array types that may cross the pipe.
DTYPES = {
    "float32": np.dtype("<f4"),
    "float64": np.dtype("<f8"),
    "int64": np.dtype("<i8"),
    "uint8": np.dtype("u1"),
    "bool": np.dtype("?"),
}
_ARRAY_KEY = "$array"


class ProtocolError(Exception):
    """A frame that is malformed, too large, or not what was asked for."""


class ChannelClosed(ProtocolError):
    """The other end closed the pipe (the child exited or died)."""


class ChannelTimeout(ProtocolError):
    """No complete frame before the deadline."""


@dataclass(frozen=True)
class Limits:
    max_header_bytes: int = 1 << 20
    max_total_bytes: int = 64 << 20
    max_arrays: int = 4096
    max_ndim: int = 8


# ---------------------------------------------------------------------------------------------- encode
def encode(message_id: int, body, to_array=np.asarray) -> bytes:
    """Serialize ``body`` (JSON values, with arrays anywhere) into one frame.

    ``to_array`` turns a non-JSON leaf (e.g. a torch tensor) into a numpy array; leaves it cannot
    convert raise ``TypeError``.
    """
    arrays: list[np.ndarray] = []

    def walk(value):
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, int):
            return int(value)
        if isinstance(value, float):
            if not math.isfinite(value):
                return {"$float": repr(value)}
            return float(value)
        if isinstance(value, dict):
            return {str(k): walk(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [walk(v) for v in value]
        array = np.ascontiguousarray(to_array(value))
        name = array.dtype.name
        if name not in DTYPES:
            raise TypeError(f"cannot send arrays of dtype {name}")
        arrays.append(array.astype(DTYPES[name], copy=False))
        return {_ARRAY_KEY: len(arrays) - 1}

    body = walk(body)
    header = {"id": int(message_id), "body": body,
              "arrays": [{"dtype": a.dtype.name, "shape": list(a.shape)} for a in arrays]}
    raw = json.dumps(header, separators=(",", ":"), allow_nan=False).encode()
    return b"".join([_PREFIX.pack(MAGIC, len(raw)), raw, *(a.tobytes() for a in arrays)])


# ---------------------------------------------------------------------------------------------- decode
def _reject_constant(name: str):
    raise ProtocolError(f"non-standard JSON constant {name}")


def _array_specs(header: dict, limits: Limits) -> list[tuple[np.dtype, tuple[int, ...], int]]:
    specs = header.get("arrays")
    if not isinstance(specs, list) or len(specs) > limits.max_arrays:
        raise ProtocolError("'arrays' must be a list of at most %d entries" % limits.max_arrays)
    out, total = [], 0
    for spec in specs:
        if not isinstance(spec, dict) or set(spec) != {"dtype", "shape"}:
            raise ProtocolError("each array needs exactly 'dtype' and 'shape'")
        dtype = DTYPES.get(spec["dtype"]) if isinstance(spec["dtype"], str) else None
        if dtype is None:
            raise ProtocolError(f"array dtype {spec['dtype']!r} is not allowed")
        shape = spec["shape"]
        if (not isinstance(shape, list) or len(shape) > limits.max_ndim
                or not all(isinstance(d, int) and not isinstance(d, bool) and 0 <= d for d in shape)):
            raise ProtocolError(f"bad array shape {shape!r}")
        nbytes = dtype.itemsize * math.prod(shape)  # Python ints: no overflow
        total += nbytes
        if total > limits.max_total_bytes:
            raise ProtocolError(f"message larger than the limit of {limits.max_total_bytes} bytes")
        out.append((dtype, tuple(shape), nbytes))
    return out


def parse_header(raw: bytes, limits: Limits) -> tuple[dict, list[tuple[np.dtype, tuple[int, ...], int]]]:
    try:
        header = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except ProtocolError:
        raise
    except (ValueError, RecursionError) as error:
        raise ProtocolError(f"header is not valid JSON: {type(error).__name__}") from None
    if not isinstance(header, dict) or set(header) != {"id", "body", "arrays"}:
        raise ProtocolError("header must have exactly the keys 'id', 'body' and 'arrays'")
    if not isinstance(header["id"], int) or isinstance(header["id"], bool):
        raise ProtocolError("header 'id' must be an integer")
    return header, _array_specs(header, limits)


def attach_arrays(body, arrays: list[np.ndarray]):
    """Replace every ``{"$array": i}`` in ``body`` by ``arrays[i]``; each array must be used exactly once."""
    used = set()

    def walk(value, depth=0):
        if depth > 64:
            raise ProtocolError("body nested too deeply")
        if isinstance(value, dict):
            if set(value) == {_ARRAY_KEY}:
                index = value[_ARRAY_KEY]
                valid = isinstance(index, int) and not isinstance(index, bool) and 0 <= index < len(arrays)
                if not valid or index in used:
                    raise ProtocolError(f"bad array reference {index!r}")
                used.add(index)
                return arrays[index]
            if set(value) == {"$float"}:
                if value["$float"] not in ("nan", "inf", "-inf"):
                    raise ProtocolError("bad float constant")
                return float(value["$float"])
            return {key: walk(item, depth + 1) for key, item in value.items()}
        if isinstance(value, list):
            return [walk(item, depth + 1) for item in value]
        return value

    result = walk(body)
    if len(used) != len(arrays):
        raise ProtocolError("some arrays are not referenced by the body")
    return result


def decode(frame: bytes, limits: Limits = Limits()) -> tuple[int, object]:
    """Decode one complete frame held in memory (the reader below does the same from a pipe)."""
    if len(frame) < _PREFIX.size:
        raise ProtocolError("frame shorter than its prefix")
    magic, header_len = _PREFIX.unpack_from(frame)
    if magic != MAGIC:
        raise ProtocolError("bad magic bytes")
    if header_len > limits.max_header_bytes:
        raise ProtocolError(f"header larger than {limits.max_header_bytes} bytes")
    start = _PREFIX.size + header_len
    if len(frame) < start:
        raise ProtocolError("truncated header")
    header, specs = parse_header(frame[_PREFIX.size:start], limits)
    arrays, offset = [], start
    for dtype, shape, nbytes in specs:
        if len(frame) < offset + nbytes:
            raise ProtocolError("truncated array data")
        arrays.append(np.frombuffer(frame, dtype=dtype, count=math.prod(shape), offset=offset).reshape(shape).copy())
        offset += nbytes
    if offset != len(frame):
        raise ProtocolError("trailing bytes after the last array")
    return header["id"], attach_arrays(header["body"], arrays)


# ---------------------------------------------------------------------------------------------- pipes
def _when_ready(poller, deadline: float | None, timeout: str, call: Callable, *args):
    """``call(*args)`` once ``poller`` reports its fd ready, again while it would block; ``ChannelTimeout(timeout)``
    at ``deadline`` (``time.monotonic()``; None = never)."""
    while True:
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            raise ChannelTimeout(timeout)
        if not poller.poll(None if remaining is None else max(1, int(remaining * 1000) + 1)):
            continue
        try:
            return call(*args)
        except BlockingIOError:
            continue


def read_exactly(fd: int, size: int, deadline: float | None) -> bytes:
    """``size`` bytes from ``fd``, waiting at most until ``deadline`` (``time.monotonic()``; None = forever)."""
    chunks, got = [], 0
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
    while got < size:
        chunk = _when_ready(poller, deadline, "timed out", os.read, fd, min(size - got, 1 << 20))
        if not chunk:
            raise ChannelClosed("the other end closed the pipe")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def read_frame(fd: int, limits: Limits = Limits(), deadline: float | None = None) -> tuple[int, object]:
    """Read and decode one frame from ``fd``; sizes are checked before each buffer is read."""
    magic, header_len = _PREFIX.unpack(read_exactly(fd, _PREFIX.size, deadline))
    if magic != MAGIC:
        raise ProtocolError("bad magic bytes")
    if header_len > limits.max_header_bytes:
        raise ProtocolError(f"header larger than {limits.max_header_bytes} bytes")
    header, specs = parse_header(read_exactly(fd, header_len, deadline), limits)
    arrays = []
    for dtype, shape, nbytes in specs:
        data = read_exactly(fd, nbytes, deadline) if nbytes else b""
        arrays.append(np.frombuffer(data, dtype=dtype).reshape(shape).copy())
    return header["id"], attach_arrays(header["body"], arrays)


def write_all(fd: int, data: bytes, deadline: float | None = None) -> None:
    """Write all of ``data`` to ``fd`` (blocking or not), giving up at ``deadline``."""
    view = memoryview(data)
    poller = select.poll()
    poller.register(fd, select.POLLOUT | select.POLLERR)
    while view:
        try:
            written = _when_ready(poller, deadline, "timed out while sending", os.write, fd, view[:1 << 20])
        except (BrokenPipeError, ConnectionResetError):
            raise ChannelClosed("the other end closed the pipe") from None
        view = view[written:]
