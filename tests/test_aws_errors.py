"""tickpipe.aws_errors.error_code: the code of any botocore exception, also one with no answer."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError, ReadTimeoutError
from hypothesis import given
from hypothesis import strategies as st

from tickpipe.aws_errors import error_code

ANSWERS = st.recursive(st.none() | st.integers() | st.text(max_size=8),
                       lambda inner: st.dictionaries(st.sampled_from(["Error", "Code", "Message"]), inner, max_size=3),
                       max_leaves=6)


def test_a_client_error_gives_its_code(aws):
    with pytest.raises(ClientError) as caught:
        aws.client("s3").get_object(Bucket="no-such-bucket", Key="k")
    assert error_code(caught.value) == "NoSuchBucket"


@pytest.mark.parametrize("exc", [
    ConnectionClosedError(endpoint_url="http://127.0.0.1:9"),
    ReadTimeoutError(endpoint_url="http://127.0.0.1:9"),
    EndpointConnectionError(endpoint_url="http://127.0.0.1:9"),
    ClientError({}, "GetObject"),
    ValueError("not from botocore"),
])
def test_an_error_without_an_answer_has_no_code(exc):
    assert error_code(exc) == ""


@given(ANSWERS)
def test_any_shape_of_answer_gives_a_string_and_never_raises(answer):
    exc = ClientError({"Error": {"Code": "x"}}, "Op")
    exc.response = answer  # botocore lets the attribute be anything; a test double may set anything
    code = error_code(exc)
    assert isinstance(code, str)
    if isinstance(answer, dict) and isinstance(answer.get("Error"), dict) and isinstance(answer["Error"].get("Code"), str):
        assert code == answer["Error"]["Code"]
    else:
        assert code == ""
