"""Hypothesis strategies for catd-node values, shared by every test package.

`canonical_values` draws exactly the values the canonical encoder accepts (NFC text,
integers within ±(2**53-1), booleans, null, arrays, objects), so a property over them is a
property of the whole encoding.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from hypothesis import strategies as st

from catd_node import actas, canonical

MAX_SAFE = canonical.MAX_SAFE_INT

# Text that survives canonical encoding: valid UTF-8 (no surrogates) in NFC form.
nfc_text = st.text(
    alphabet=st.characters(exclude_categories=("Cs",)), max_size=20
).map(lambda s: unicodedata.normalize("NFC", s))

safe_ints = st.integers(min_value=-MAX_SAFE, max_value=MAX_SAFE)
unsafe_ints = st.one_of(
    st.integers(min_value=MAX_SAFE + 1, max_value=2**70),
    st.integers(min_value=-(2**70), max_value=-MAX_SAFE - 1),
)
scalars = st.one_of(st.none(), st.booleans(), safe_ints, nfc_text)

canonical_values: st.SearchStrategy[Any] = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(nfc_text, children, max_size=5),
    ),
    max_leaves=25,
)
canonical_objects: st.SearchStrategy[dict[str, Any]] = st.dictionaries(
    nfc_text, canonical_values, max_size=6
)

# Text that is *not* NFC: a base letter followed by a combining mark that composes with it.
non_nfc_text = st.sampled_from(["e\u0301", "n\u0303", "Jalisco \u2014 Guadalajara, n\u0303"])

# Captured acta values as clerks may type them.
captured_values = st.one_of(
    st.integers(min_value=0, max_value=actas.MAX_VALUE),
    st.sampled_from([actas.ILEGIBLE, actas.SIN_DATO]),
)

acta_keys = st.from_regex(r"DIP-14-01-0[0-9]{3}-[BCE]0[1-9]", fullmatch=True)

packet_kinds = st.sampled_from(
    ["acta.acopio", "acta.captured", "acta.verified", "scan.quarantined", "acta.assigned"]
)


@st.composite
def packet_bodies(draw: st.DrawFn) -> dict[str, Any]:
    """A body shaped like the shared ones (acta key, clerk, values) plus arbitrary extras."""
    body: dict[str, Any] = {
        "acta": draw(acta_keys),
        "by": draw(st.sampled_from(["ana", "josé", "ñoño", "李"])),
        "values": draw(st.dictionaries(
            st.sampled_from(["PAN", "PRI", "MORENA", "MC", "NULOS"]), captured_values, max_size=5)),
    }
    body.update(draw(st.dictionaries(
        st.text(alphabet="xyz_", min_size=1, max_size=5), canonical_values, max_size=2)))
    return body
