"""Cluster ids of the local broker never begin with '-' (kafka-storage would read one as an option)."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable, Iterator

from streams.broker import new_cluster_id


def _draws(*values: bytes) -> Callable[[], bytes]:
    it: Iterator[bytes] = iter(values)
    return lambda: next(it)


def test_an_id_that_would_begin_with_a_dash_is_drawn_again() -> None:
    dash = bytes([0xF8]) + bytes(15)  # base64 of 0b111110.. starts with '-' (index 62 of the URL-safe alphabet)
    assert base64.urlsafe_b64encode(dash).decode().startswith("-")
    good = bytes(range(16))
    assert new_cluster_id(_draws(dash, dash, good)) == base64.urlsafe_b64encode(good).decode().rstrip("=")


def test_random_ids_are_22_characters_of_16_bytes_and_never_begin_with_a_dash() -> None:
    ids = [new_cluster_id() for _ in range(5000)]  # ~78 of them would begin with '-' without the redraw
    assert all(not i.startswith("-") and len(i) == 22 for i in ids)
    assert all(len(base64.urlsafe_b64decode(i + "==")) == 16 for i in ids)
    assert len(set(ids)) == len(ids)
    assert uuid.UUID(bytes=base64.urlsafe_b64decode(ids[0] + "=="))
