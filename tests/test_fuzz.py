"""Hostile input: the protocol decoder and the request/job-spec handling under hypothesis.

No input may make them raise anything but their documented errors, and no request may end in
an "internal" error (which would mean an exception the code did not expect). A longer run with
atheris lives in fuzz/ (outside CI).
"""
from __future__ import annotations

import socket
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hcserver.access import Peer
from hcserver.protocol import MAGIC, ProtocolError, encode, read_message
from tests.support.images import bundled
from tests.support.operations import NEEDS_WORKERS, make_operations

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def decode(data: bytes):
    left, right = socket.socketpair()
    with left, right:
        left.sendall(data)
        left.shutdown(socket.SHUT_WR)
        right.settimeout(5)
        messages = []
        while True:
            try:
                messages.append(read_message(right, 1 << 16, 1 << 16))
            except EOFError:
                return messages
            except ProtocolError as exc:
                if exc.fatal:
                    return messages


frames = st.one_of(
    st.binary(max_size=200),
    st.builds(lambda body, extra: MAGIC + struct.pack("!II", len(body), len(extra)) + body + extra,
              st.binary(max_size=100), st.binary(max_size=20)),
    st.builds(lambda h, a, rest: MAGIC + struct.pack("!II", h, a) + rest,
              st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1), st.binary(max_size=50)),
    st.builds(lambda text: encode({"op": "x"})[:4] + struct.pack("!II", len(text.encode()), 0) + text.encode(),
              st.text(max_size=100)),
)


@FAST
@given(st.lists(frames, max_size=4))
def test_protocol_decoder_raises_only_protocol_errors(chunks):
    decode(b"".join(chunks))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=20)

SPEC_KEYS = ["printer", "priority", "copies", "medium_type", "film_destination", "label", "films", "images",
             "film_size", "orientation", "layout", "frames", "image", "frame", "position", "window",
             "polarity", "annotations", "overlays", "center", "width", "magnification", "graphics"]


def mutated_specs(image_ref: str):
    good_frame = {"image": image_ref, "frame": 0, "window": {"center": 40, "width": 400}, "polarity": "NORMAL"}
    good = {"printer": "film", "priority": "high", "copies": 1,
            "films": [{"film_size": "8INX10IN", "layout": "STANDARD\\2,2", "frames": [good_frame]}]}
    leaf = json_values | st.sampled_from([image_ref, "STANDARD\\0,0", "STANDARD\\2,2", "CUSTOM", "A4", -1, 2**40,
                                          "sha256:" + "f" * 64, "", "14INX17IN", "LANDSCAPE"])

    def mutate(spec, path, value):
        target = spec
        for key in path[:-1]:
            target = target[key] if isinstance(target, dict) else target[0]
        if isinstance(target, dict):
            target[path[-1]] = value
        return spec

    paths = st.sampled_from([("printer",), ("priority",), ("copies",), ("films",), ("films", "layout"),
                             ("films", "film_size"), ("films", "frames"), ("films", "frames", "image"),
                             ("films", "frames", "frame"), ("films", "frames", "window"),
                             ("films", "frames", "position"), ("films", "frames", "annotations"),
                             ("images",), ("label",), ("films", "orientation")])
    import copy
    return st.one_of(
        st.builds(lambda path, value: mutate(copy.deepcopy(good), path, value), paths, leaf),
        st.dictionaries(st.sampled_from(SPEC_KEYS), leaf, max_size=6),
        json_values,
    )


@pytest.fixture(scope="module")
def operations(tmp_path_factory):
    ops = make_operations(tmp_path_factory.mktemp("fuzz"))
    with open(bundled("CT_small.dcm"), "rb") as image:
        response, _ = ops.handle({"op": "upload", "name": "ct"}, image.read(), Peer("fuzzer", admin=False))
    assert response["ok"], response
    yield ops, response["image"]
    ops.formatting.shutdown()


def test_job_spec_validation_under_fuzzing(operations):
    ops, image_ref = operations
    peer = Peer("fuzzer", admin=False)

    @FAST
    @given(mutated_specs(image_ref), st.booleans())
    def check(spec, preview):
        op = "preview" if preview else "submit"
        response, _ = ops.handle({"id": 1, "op": op, "spec": spec}, b"", peer)
        if not response["ok"]:
            assert response["error"]["code"] != "internal", response["error"]
            assert response["error"]["message"]

    check()


@FAST
@given(st.dictionaries(st.sampled_from(["op", "id", "job", "printer", "priority", "timeout", "all", "spec",
                                        "hold", "name", "reason"]), json_values, max_size=5),
       st.sampled_from(["show", "cancel", "hold", "release", "priority", "move", "list", "wait", "printers",
                        "submit", "upload", "nonsense", 7, None]))
def test_any_request_gets_a_structured_answer(operations, request, op):
    ops, _ = operations
    if op in NEEDS_WORKERS:
        return
    request = {**request, "op": op}
    if op == "wait":
        request["timeout"] = 0
    response, _ = ops.handle(request, b"", Peer("fuzzer", admin=True))
    assert response["ok"] or (response["error"]["code"] != "internal" and response["error"]["message"]), response
