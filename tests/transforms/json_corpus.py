"""A conformance corpus of JSON texts (RFC 8259) for the decoder: texts that are not JSON, and texts that are.

Each invalid text must be quarantined as ``invalid_json``; each valid one gets past the JSON check (it loads,
or fails a later rule of the contract with the reason given).
"""

from __future__ import annotations

import json

# A valid click event, written by hand: defects are injected into it below.
EVENT = (
    '{"event_id": "c-1", "event_type": "click", "event_time": "2026-11-01T10:00:00Z", "schema_version": 1, '
    '"user_id": "u-1", "campaign_id": "k-1", "channel": "search", "creative_id": "cr-1", "cost_micros": 3535}'
)


def _event_with(tail: str) -> str:
    """The event with ``tail`` in place of its cost_micros value and closing brace."""
    return EVENT[: EVENT.rindex("3535")] + tail


_HAND_WRITTEN: list[bytes] = [
    s.encode() if isinstance(s, str) else s
    for s in [
        # empty and whitespace-only
        "", " ", "\n", "\t\r\n ",
        # literals
        "NaN", "Infinity", "-Infinity", "+Infinity", "nan", "inf", "True", "False", "None", "NULL", "nul", "tru",
        "fals", "undefined", "truee", "nulll",
        # numbers
        "01", "-01", "00", "+1", ".5", "5.", "-", "1e", "1e+", "1E-", "0x1F", "1_000", "--1", "- 1", "1.5.2",
        "0.e1", "1e5.5", "Infinity1", "-.5", "1ee5", "0b1", "1,5", "\u0661", "\uff11",
        # strings
        "'single'", '"unterminated', '"bad \\x escape"', '"bad \\u12 escape"', '"bad \\uZZZZ"', '"\\a"', '"\\\'"',
        '"tab\there"', '"new\nline"', '"nul\x00"', '"\x1f"', '"\\ud800"', '"\\udc00"', '"\\ud800\\u0041"',
        '"\\ud83d"', '"a" "b"', '"\\"', "\"\\U0041\"",
        # arrays
        "[1,]", "[,1]", "[1,,2]", "[", "]", "[1 2]", "[1:2]", "[[]", "[]]", "[NaN]", "[Infinity]", "[01]",
        "[undefined]", "[1,2,3,]",
        # objects
        "{", "}", "{,}", '{"a":1,}', '{"a" 1}', '{"a":}', "{a:1}", "{'a':1}", '{"a":1 "b":2}', '{"a":1,,"b":2}',
        '{1:1}', '{"a"::1}', '{"a":1}}', '{{"a":1}', '{"a":NaN}', '{"a":-Infinity}', '{"a":1,"a":2}',
        '{"a":1;"b":2}', '{"a"=1}', '{null:1}', '{"a":1,"b":2,"a":3}',
        # comments and text after the value
        "// c\n{}", "/* c */ {}", "{} // c", '{"a":1 /* c */}', "# c\n{}", "{} {}", "{} x", "1 2", "[] []",
        '"a" x', "null null", "{}\x00", "{};", "{},",
        # byte-level: BOM, invalid UTF-8, odd whitespace
        b"\xef\xbb\xbf{}", b"\xff", b"\xfe\xff{}", b'"\xc3"', b'"\xc3\x28"', b'"\xed\xa0\x80"', b'"\xf8\x88\x80\x80\x80"',
        b'"\xc0\xaf"', b'"\xe0\x80\xaf"', b'{"a":"\x80"}', b"\x00", b"\x00{}", "\u00a0{}".encode(), "{}\u2028".encode(),
        "\u3000{}".encode(), b"\x0b{}", b"\x0c{}", "\ufeff{}".encode("utf-16"),
    ]
]  # fmt: skip

# Real defects in an otherwise valid event (the simulator's trailing comma among them).
_IN_EVENT: list[bytes] = [
    s.encode()
    for s in [
        _event_with("3535,}"), _event_with("NaN}"), _event_with("Infinity}"), _event_with("-Infinity}"),
        _event_with("03535}"), _event_with("3535"), _event_with("3535}}"), _event_with("3535} x"),
        _event_with("3535, }"), _event_with("0x10}"), _event_with("'3535'}"), _event_with("3535 // cost\n}"),
        _event_with("3535 /* cost */}"), _event_with("+3535}"), _event_with("3535.}"), _event_with("3535,\n}"),
        _event_with('3535, "cost_micros": 1}'), _event_with('3535, "event_id": "c-2"}'), _event_with("3535}\n{}"),
        _event_with('"\\ud800"}'), _event_with('"\t"}'), _event_with("3535}" + "\x00"), _event_with("3535]"),
        _event_with("3535, extra: 1}"), _event_with("3535, 'extra': 1}"), _event_with("3535,,}"),
        _event_with("undefined}"), _event_with("1e}"), _event_with(".5}"), _event_with("True}"),
        EVENT.replace('"event_id"', "event_id"), EVENT.replace('"c-1"', "'c-1'"), EVENT.replace(", ", ",, ", 1),
        EVENT.replace(":", "=", 1), EVENT.replace('"u-1"', '"u\n1"'), EVENT.replace("{", "{,", 1),
        EVENT.replace('"event_time": "2026-11-01T10:00:00Z"', '"event_time": "2026-11-01T10:00:00Z" /*t*/'),
        EVENT[:-1], EVENT + ",", EVENT + "]",
    ]
]  # fmt: skip
_IN_EVENT += [
    EVENT.encode().replace(b'"u-1"', b'"u-\xff"'),
    EVENT.encode().replace(b'"u-1"', b'"u-\xed\xb2\x80"'),
    b"\xef\xbb\xbf" + EVENT.encode(),
    EVENT.encode("utf-16"),
    EVENT.encode("utf-32"),
]

INVALID: list[bytes] = list(dict.fromkeys(_HAND_WRITTEN + _IN_EVENT))  # each text once

# Valid JSON texts that are not objects: `not_an_object`.
NOT_OBJECTS: list[str] = [
    "0", "-0", "1", "-1", "1e5", "1E+5", "1e-5", "0.5", "-0.5e-0", "123456789012345678901234567890",
    "1.7976931348623157e308", "5e-324", "true", "false", "null", '""', '"a"', '"\\u00e9\\ud83d\\ude00"',
    '"\\" \\\\ \\/ \\b \\f \\n \\r \\t"', "[]", "[1, 2.5, \"x\", null, true, {}]", "[[[[[[]]]]]]", " [ ] ", "\t\n\r 7 \t\n\r",
    '"直播 ✓"', '["\\u0000"]',
]  # fmt: skip

# Valid JSON objects that are not events: a later reason.
NOT_EVENTS: list[tuple[str, str, str]] = [
    ("{}", "missing_field", "schema_version"),
    (" { } ", "missing_field", "schema_version"),
    ('{"a": {"b": {"c": [1, {"d": null}]}}}', "missing_field", "schema_version"),
    ('{"schema_version": 1}', "missing_field", "event_type"),
    ('{"schema_version": -0}', "unsupported_schema_version", "schema_version"),
    ('{"schema_version": 1.0}', "wrong_type", "schema_version"),
    ('{"schema_version": 1e0}', "wrong_type", "schema_version"),
    ('{"schema_version": 100000000000000000000000}', "out_of_range", "schema_version"),
    ('{"schema_version": null}', "missing_field", "schema_version"),
    ('{"schema_version": "1"}', "wrong_type", "schema_version"),
    ('{"schema_version": 1, "event_type": "click"}', "missing_field", "event_id"),
    ('{"schema_version": 1, "event_type": "nope"}', "unknown_event_type", "event_type"),
    ('{"schema_version": 1, "event_type": "cl\\u0069ck"}', "missing_field", "event_id"),
    ('{"a": {"x": 1, "x": 2}}', "missing_field", "schema_version"),  # duplicate names inside a nested value
]


def _valid_events() -> list[str]:
    """Valid click events written in every corner of the grammar (escapes, whitespace, number forms)."""
    base = json.loads(EVENT)
    pretty = json.dumps(base, indent=2)
    return [
        EVENT,
        json.dumps(base, separators=(",", ":")),
        pretty,
        pretty.replace("  ", "\t"),
        pretty.replace("\n", "\r\n"),
        " \t\r\n" + EVENT + " \t\r\n",
        EVENT.replace('"c-1"', '"\\u0063-1"'),
        EVENT.replace('"c-1"', '"c\\u002d1"'),
        EVENT.replace('"u-1"', '"u\\/1"'),
        EVENT.replace('"u-1"', '"u\\\\1"'),
        EVENT.replace('"u-1"', '"u\\"1"'),
        EVENT.replace('"u-1"', '"u\\b\\f\\n\\r\\t"'),
        EVENT.replace('"u-1"', '"\\ud83d\\ude00"'),
        EVENT.replace('"u-1"', '"\\uD83D\\uDE00"'),
        EVENT.replace('"u-1"', '"用户-1"'),
        EVENT.replace('"u-1"', '"u\u2028\u2029"'),
        EVENT.replace('"u-1"', '"\\u0000"'),
        EVENT.replace('"event_type"', '"event_\\u0074ype"'),
        EVENT.replace("3535", "0"),
        EVENT.replace("3535", "-0"),
        EVENT.replace('"extra"', ""),
        EVENT.replace("}", ', "extra": [1.5e3, -0.0, 1E+5, 1e-5, 1E400]}'.replace("1E400", "1E30")),
        EVENT.replace("}", ', "x": {"y": [true, false, null, "", {}, []]}}'),
        EVENT.replace("}", ', "big": 123456789012345678901234567890}'),
    ]


VALID_EVENTS: list[str] = _valid_events()
