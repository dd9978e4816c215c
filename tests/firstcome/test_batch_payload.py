"""The PostgreSQL batch's one parameter (``writer.payload_dumps``): orjson writes it, and what it writes must be
what json.dumps wrote before — the same document, whatever a claim's rows and its audit data hold."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from allot.firstcome.writer import payload_dumps

_SCALARS = st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=2**63 - 1) | st.text()
# what a JSON column (audit data) may hold: nested lists and objects, with integer keys as json.dumps allows them
_VALUES = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=4)
                       | st.dictionaries(st.text(max_size=8) | st.integers(0, 99), inner, max_size=4), max_leaves=12)


def _before(doc: dict) -> str:
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))


@given(st.dictionaries(st.sampled_from(["claims", "parcels", "audits", "people"]),
                       st.lists(st.dictionaries(st.text(max_size=12), _VALUES, max_size=6), max_size=5)))
def test_the_payload_is_the_document_json_dumps_wrote(doc):
    assert json.loads(payload_dumps(doc)) == json.loads(_before(doc))


def test_chinese_text_is_written_as_itself_not_escaped():
    doc = {"people": [{"name": "王五", "address": "西湖区 文三路 1 号"}]}
    assert "王五" in payload_dumps(doc) and "\\u" not in payload_dumps(doc)


def test_what_orjson_refuses_is_written_by_json_dumps():
    doc = {"audits": [{"data": {"big": 2**70, 3: "three"}}]}   # past 64 bits: orjson raises TypeError
    assert payload_dumps(doc) == _before(doc)
    assert json.loads(payload_dumps(doc))["audits"][0]["data"] == {"big": 2**70, "3": "three"}
