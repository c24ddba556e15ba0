"""The canonical encoder: one value, one encoding; anything ambiguous is refused."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from catd_node import canonical
from catd_node.canonical import CanonicalError
from tests import strategies as cs


@given(cs.canonical_values)
def test_encode_decode_round_trip(value):
    data = canonical.encode(value)
    assert canonical.decode(data) == value
    assert canonical.encode(canonical.decode(data)) == data


@given(cs.canonical_values)
def test_encoding_is_the_contract_json_dumps(value):
    expected = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert canonical.encode(value) == expected.encode("utf-8")


@given(cs.canonical_objects.filter(lambda d: len(d) >= 1))
def test_decode_refuses_spaces(obj):
    spaced = json.dumps(obj, sort_keys=True, ensure_ascii=False).encode("utf-8")
    if spaced != canonical.encode(obj):
        with pytest.raises(CanonicalError):
            canonical.decode(spaced)
    with pytest.raises(CanonicalError):
        canonical.decode(b" " + canonical.encode(obj))
    with pytest.raises(CanonicalError):
        canonical.decode(canonical.encode(obj) + b"\n")


@given(cs.canonical_objects.filter(lambda d: len(d) >= 2))
def test_decode_refuses_unsorted_keys(obj):
    reverse = dict(sorted(obj.items(), reverse=True))
    unsorted = json.dumps(reverse, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    with pytest.raises(CanonicalError, match="canonical form"):
        canonical.decode(unsorted)


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_floats_refused_both_ways(number):
    with pytest.raises(CanonicalError, match="float"):
        canonical.encode({"x": number})
    with pytest.raises(CanonicalError, match="float"):
        canonical.decode(json.dumps({"x": number}).encode())


@pytest.mark.parametrize("text", [b'{"x":1.0}', b'{"x":1e5}', b'{"x":NaN}', b'{"x":-Infinity}'])
def test_decode_refuses_float_forms(text):
    with pytest.raises(CanonicalError):
        canonical.decode(text)


@given(cs.nfc_text, cs.canonical_values, cs.canonical_values)
def test_decode_refuses_duplicate_keys(key, first, second):
    k = json.dumps(key, ensure_ascii=False)
    a = canonical.encode(first).decode()
    b = canonical.encode(second).decode()
    with pytest.raises(CanonicalError, match="duplicate key"):
        canonical.decode(f"{{{k}:{a},{k}:{b}}}".encode())


@given(cs.unsafe_ints)
def test_integers_beyond_2_53_refused(number):
    with pytest.raises(CanonicalError, match="2\\*\\*53"):
        canonical.encode({"n": number})
    with pytest.raises(CanonicalError):
        canonical.decode(b'{"n":%d}' % number)


def test_integer_limits_exact():
    top = canonical.MAX_SAFE_INT
    assert canonical.decode(canonical.encode([top, -top])) == [top, -top]
    for bad in (top + 1, -top - 1):
        with pytest.raises(CanonicalError):
            canonical.encode(bad)


@given(cs.non_nfc_text)
def test_non_nfc_text_refused_as_value_and_key(text):
    with pytest.raises(CanonicalError, match="NFC") as value_err:
        canonical.encode({"place": text})
    assert value_err.value.what == "$.place"
    with pytest.raises(CanonicalError, match="NFC"):
        canonical.encode({text: 1})
    with pytest.raises(CanonicalError):
        canonical.decode(json.dumps({"place": text}, ensure_ascii=False).encode())


def test_error_names_the_path():
    with pytest.raises(CanonicalError) as err:
        canonical.encode({"body": {"values": [1, 2, 0.5]}})
    assert err.value.what == "$.body.values[2]"


@pytest.mark.parametrize("value", [b"bytes", {1: "int key"}, {1.5}, object()])
def test_other_types_refused(value):
    with pytest.raises(CanonicalError):
        canonical.encode(value)


@pytest.mark.parametrize("data", [
    b"\xff",                          # not UTF-8
    b'"\\ud800"',                     # lone surrogate
    b'"\\u00e9"',                     # escaped where the raw character is canonical
    b'{"a":true,}',                   # not JSON
    b"",
])
def test_decode_refuses_malformed(data):
    with pytest.raises(CanonicalError):
        canonical.decode(data)


def test_non_ascii_is_raw_utf8():
    assert canonical.encode({"lugar": "Jalisco — Guadalajara, ñ"}) == (
        '{"lugar":"Jalisco — Guadalajara, ñ"}'.encode()
    )


def _reference_accepts(data: bytes) -> bool:
    """The rule as docs/contracts.md states it, written the slow, obvious way."""
    try:
        value = json.loads(data.decode("utf-8"), object_pairs_hook=canonical._no_duplicates,
                           parse_float=canonical._no_float, parse_constant=canonical._no_constant)
        canonical.check_value(value)
        return json.dumps(value, sort_keys=True, separators=(",", ":"),
                          ensure_ascii=False).encode("utf-8") == data
    except (CanonicalError, ValueError):
        return False


# any text at all: controls, combining marks, non-NFC sequences, quotes and backslashes
wild_text = st.text(alphabet=st.one_of(
    st.characters(exclude_categories=("Cs",)),
    st.sampled_from(["\u0301", "\u0303", "\u0338", "\n", "\\", '"', "n", "e", "=", "\u212b"]),
), max_size=8)
wild_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**60), 2**60), wild_text),
    lambda c: st.one_of(st.lists(c, max_size=4), st.dictionaries(wild_text, c, max_size=4)),
    max_leaves=12,
)


@given(wild_values)
def test_decode_agrees_with_the_reference_rule(value):
    data = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    try:
        accepted = canonical.decode(data) == value
    except CanonicalError:
        accepted = False
    assert accepted == _reference_accepts(data)


def test_very_long_integer_is_refused_not_crashed():
    with pytest.raises(CanonicalError):
        canonical.decode(b"[" + b"9" * 5000 + b"]")
