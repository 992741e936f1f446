"""Property: any string for any kind is normalised or refused with InvalidInput (a
400), never another exception."""

from hypothesis import given, settings
from hypothesis import strategies as st

from config.errors import InvalidInput
from incidents.models import Subject
from incidents.subjects import normalise_subject

kinds = st.sampled_from(Subject.Kind.values) | st.text(max_size=12)
values = st.one_of(
    st.text(),
    st.text(alphabet="0123456789abcdefABCDEF.:/%-AS", max_size=45),
    st.sampled_from(
        [
            "203.0.113.7",
            "2001:db8::/32",
            "fe80::1%eth0",
            "AS4294967296",
            "as12",
            "example.com.",
            "xn--nxasmq6b.com",
            "a" * 300,
            "\x00",
            "\ud800",
            " ",
        ]
    ),
)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(kinds, values)
def test_any_string_for_any_kind_is_normalised_or_refused(kind, value):
    try:
        normalised = normalise_subject(kind, value)
    except InvalidInput:
        return
    assert isinstance(normalised, str)
    assert normalise_subject(kind, normalised) == normalised  # a fixed point
