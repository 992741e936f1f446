"""JSON parsing that turns absurd nesting into a 400 like any other malformed body."""

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class JSONParserWithDepthLimit(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(
                "JSON parse error - the document is nested too deeply."
            ) from None
