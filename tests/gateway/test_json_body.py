import pytest

from services.gateway.json_body import MAX_DEPTH, InvalidJson, decode_json


def test_a_document_nested_to_the_limit_is_parsed():
    depth = MAX_DEPTH - 5
    assert decode_json(b"[" * depth + b"]" * depth) is not None


@pytest.mark.parametrize(
    "body",
    [b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 50_000 + b"1" + b"}" * 50_000],
)
def test_a_document_nested_far_deeper_is_refused_saying_so_without_recursing(body):
    with pytest.raises(InvalidJson) as refused:
        decode_json(body)

    assert (
        refused.value.reason == f"body is not valid JSON: nested more than {MAX_DEPTH} levels deep"
    )


@pytest.mark.parametrize("body", [b"", b"{", b"\xff\xfe", b'"\\ud800"', b"[1,]"])
def test_malformed_json_is_refused_naming_where(body):
    with pytest.raises(InvalidJson) as refused:
        decode_json(body)

    assert refused.value.reason.startswith("body is not valid JSON: ")
    assert "line 1 column" in refused.value.reason
