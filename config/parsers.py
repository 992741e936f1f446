"""JSON parsing for the whole API: absurd nesting and lone surrogates become a 400 like
any other malformed body, before any view, serializer or database sees them."""

import re

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from config.errors import InvalidInput

# JSON lets "\ud800" through as an escape, and Python's json module returns it as a
# string holding half of a UTF-16 pair. That is not a character: it cannot be encoded
# as UTF-8 (so not even an error message quoting it could be sent) nor stored in
# PostgreSQL text or jsonb. A well-formed pair ("\ud83d\ude00") decodes to one
# character and is not matched here.
_SURROGATE = re.compile("[\ud800-\udfff]")


class JSONParserWithDepthLimit(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            document = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(
                "JSON parse error - the document is nested too deeply."
            ) from None
        where = _lone_surrogate(document)
        if where is not None:
            message = (
                "contains a lone surrogate escape (\\ud800 to \\udfff without its "
                "pair), which is not a character and cannot be stored."
            )
            raise InvalidInput(
                f"JSON parse error - {where or 'the document'} {message}",
                [{"field": where or None, "message": message}],
            )
        return document


def _lone_surrogate(document) -> str | None:
    """The path ("a.b[2]", "" for the whole document) of the first key or string that
    holds a lone surrogate, or None. Iterative: a parsed document may be nested deeper
    than Python's recursion goes."""
    pending = [(document, "")]
    while pending:
        value, path = pending.pop()
        if isinstance(value, str):
            if _SURROGATE.search(value):
                return path
        elif isinstance(value, dict):
            for key, item in value.items():
                name = f"{path}.{_escaped(key)}" if path else _escaped(key)
                if _SURROGATE.search(key):
                    return name
                pending.append((item, name))
        elif isinstance(value, list):
            pending.extend((item, f"{path}[{i}]") for i, item in enumerate(value))
    return None


def _escaped(key: str) -> str:
    """The key with its surrogates written as JSON escapes, so the answer can be sent."""
    return _SURROGATE.sub(lambda match: f"\\u{ord(match.group()):04x}", key[:100])
