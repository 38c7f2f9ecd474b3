"""The wire format between grader and child: round trips, and malformed or oversized frames rejected
before anything large is allocated."""

import json
import os
import struct
import threading
import time

import numpy as np
import pytest

from grader.sandbox import protocol
from grader.sandbox.protocol import Limits, ProtocolError


def frame(header: dict, payload: bytes = b"", magic: bytes = protocol.MAGIC) -> bytes:
    raw = json.dumps(header).encode()
    return struct.pack("<4sI", magic, len(raw)) + raw + payload


def test_round_trip_keeps_values_dtypes_and_structure():
    body = {"x": np.arange(6, dtype=np.float32).reshape(2, 3), "n": 3, "nested": [np.array([True, False]), None],
            "labels": np.array([1, 2], dtype=np.int64), "nan": float("nan"), "text": "ok"}
    message_id, decoded = protocol.decode(protocol.encode(7, body))
    assert message_id == 7
    assert decoded["x"].dtype == np.float32 and decoded["x"].tolist() == [[0, 1, 2], [3, 4, 5]]
    assert decoded["nested"][0].dtype == np.bool_ and decoded["nested"][1] is None
    assert decoded["labels"].dtype == np.int64 and np.isnan(decoded["nan"]) and decoded["text"] == "ok"


def test_decoded_arrays_are_private_writable_copies():
    data = protocol.encode(1, {"x": np.zeros(4, dtype=np.float32)})
    _, decoded = protocol.decode(data)
    decoded["x"][0] = 5  # would raise on a read-only view of the frame
    assert decoded["x"].flags.owndata


@pytest.mark.parametrize("header, payload, reason", [
    ({"id": 1, "body": None, "arrays": [{"dtype": "object", "shape": [1]}]}, b"x" * 8, "not allowed"),
    ({"id": 1, "body": None, "arrays": [{"dtype": "float16", "shape": [1]}]}, b"xx", "not allowed"),
    ({"id": 1, "body": None, "arrays": [{"dtype": "float32", "shape": [-1]}]}, b"", "bad array shape"),
    ({"id": 1, "body": None, "arrays": [{"dtype": "float32", "shape": [1.5]}]}, b"", "bad array shape"),
    ({"id": 1, "body": None, "arrays": [{"dtype": "float32", "shape": [1] * 9}]}, b"", "bad array shape"),
    ({"id": 1, "body": None, "arrays": [{"dtype": "float64", "shape": [1 << 40, 1 << 40]}]}, b"", "larger than"),
    ({"id": 1, "body": None, "arrays": [{"dtype": "float32", "shape": [4]}]}, b"\0" * 8, "truncated"),
    ({"id": 1, "body": {"$array": 0}, "arrays": [{"dtype": "uint8", "shape": [1]}]}, b"\0\0", "trailing"),
    ({"id": 1, "body": None, "arrays": [{"dtype": "uint8", "shape": [1]}]}, b"\0", "not referenced"),
    ({"id": 1, "body": [{"$array": 0}, {"$array": 0}], "arrays": [{"dtype": "uint8", "shape": [1]}]}, b"\0",
     "bad array reference"),
    ({"id": 1, "body": {"$array": 3}, "arrays": []}, b"", "bad array reference"),
    ({"id": 1, "body": {"$float": "1e999"}, "arrays": []}, b"", "bad float"),
    ({"id": "1", "body": None, "arrays": []}, b"", "'id'"),
    ({"id": 1, "body": None, "arrays": [], "extra": 1}, b"", "exactly the keys"),
    ({"id": 1, "body": None, "arrays": [{"dtype": "uint8"}]}, b"", "exactly 'dtype' and 'shape'"),
])
def test_malformed_frames_are_rejected(header, payload, reason):
    with pytest.raises(ProtocolError, match=reason):
        protocol.decode(frame(header, payload), Limits(max_total_bytes=1 << 20))


def test_bad_magic_non_json_and_oversized_header_are_rejected():
    with pytest.raises(ProtocolError, match="magic"):
        protocol.decode(frame({"id": 1, "body": None, "arrays": []}, magic=b"PKL\x80"))
    with pytest.raises(ProtocolError, match="not valid JSON"):
        protocol.decode(struct.pack("<4sI", protocol.MAGIC, 5) + b"\x80abcd")
    with pytest.raises(ProtocolError, match="NaN"):
        protocol.decode(struct.pack("<4sI", protocol.MAGIC, 3) + b"NaN")
    with pytest.raises(ProtocolError, match="header larger"):
        protocol.decode(struct.pack("<4sI", protocol.MAGIC, 1 << 30), Limits(max_header_bytes=1 << 20))


def test_pipe_reader_rejects_an_oversized_frame_before_reading_it():
    read_fd, write_fd = os.pipe()
    try:
        header = {"id": 1, "body": {"$array": 0}, "arrays": [{"dtype": "float64", "shape": [1 << 27]}]}  # 1 GiB
        os.write(write_fd, frame(header))
        with pytest.raises(ProtocolError, match="larger than"):
            protocol.read_frame(read_fd, Limits(max_total_bytes=64 << 20), deadline=time.monotonic() + 5)
    finally:
        os.close(read_fd)
        os.close(write_fd)


def test_pipe_reader_times_out_and_notices_a_closed_pipe():
    read_fd, write_fd = os.pipe()
    os.write(write_fd, protocol.encode(3, {"x": np.ones(3)})[:10])  # half a frame, then silence
    started = time.monotonic()
    with pytest.raises(protocol.ChannelTimeout):
        protocol.read_frame(read_fd, deadline=time.monotonic() + 0.3)
    assert time.monotonic() - started < 2
    os.close(write_fd)
    with pytest.raises(protocol.ChannelClosed):
        protocol.read_frame(read_fd, deadline=time.monotonic() + 2)
    os.close(read_fd)


def test_large_frame_streams_through_a_pipe():
    read_fd, write_fd = os.pipe()
    data = np.random.default_rng(0).random((512, 1024))  # 4 MiB: more than a pipe buffer
    writer = threading.Thread(target=protocol.write_all, args=(write_fd, protocol.encode(9, [data])))
    writer.start()
    message_id, body = protocol.read_frame(read_fd, deadline=time.monotonic() + 30)
    writer.join()
    os.close(read_fd)
    os.close(write_fd)
    assert message_id == 9 and np.array_equal(body[0], data)
