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
from hq.release import columns
from tests.releasekit import Acta, Layout

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


# -- published releases (tests/releasekit.py renders them) ---------------------------------

# A vote cell as releases print it: a number, Ilegible / Sin dato in mixed case, or `-`.
published_cells = st.one_of(
    st.integers(min_value=0, max_value=999).map(str),
    st.sampled_from(["Ilegible", "ILEGIBLE", "ilegible", "Sin dato", "SIN DATO", "Sin Dato", "-"]),
)

release_layouts = st.builds(
    Layout, st.sampled_from(["|", ","]), st.sampled_from(["latin-1", "utf-8", "utf-8-sig"]),
    st.sampled_from(["\r\n", "\r", "\n"]), st.sampled_from(["", "=", "'"]), st.booleans(), st.booleans(),
)


@st.composite
def release_actas(draw: st.DrawFn, header: list[str], entidad: int = 23) -> list[Any]:
    """Acta rows with distinct keys under `header`: any cells in its vote fields, SIN ACTA and
    FUERA DE CATÁLOGO rows among them."""
    block = columns.classify(header).votes
    vote_names = [header[i] for _, i in block]
    keys = draw(st.lists(st.tuples(st.integers(1, 9999), st.sampled_from("BCES"), st.integers(1, 3)),
                         min_size=1, max_size=8, unique=True))
    actas = []
    for seccion, tipo, ident in keys:
        kind = draw(st.sampled_from(["captured", "captured", "sin acta", "fuera"]))
        acta = Acta(entidad, seccion, tipo, ident, 0, "2", distrito=draw(st.integers(1, 3)),
                    lista_nominal=str(draw(st.integers(0, 900))),
                    observaciones=draw(st.sampled_from(["", "ALGÚN CAMPO ILEGIBLE O SIN DATO",
                                                        "EXCEDE LISTA NOMINAL, TODOS ILEGIBLES O SIN DATO"])))
        if kind == "captured":
            acta.votes = {name: draw(published_cells) for name in vote_names}
        elif kind == "sin acta":
            acta.votes = {name: "-" for name in vote_names}
            acta.observaciones, acta.contabilizada = "SIN ACTA POR PAQUETE NO ENTREGADO", "0"
        else:
            acta.tipo_acta, acta.contabilizada, acta.observaciones = "0", "2", "Fuera de catálogo"
        actas.append(acta)
    return actas
