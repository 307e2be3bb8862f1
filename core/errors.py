"""The one error type user input can raise. The CLI turns it into a message with a caret and exit 2."""


class AgradError(Exception):
    """Bad input or a request agrad cannot honour.

    kind: a short word scripts can match ("parse", "name", "binding", "shape", "backward", ...).
    span: (start, end) character offsets into `source`, when the error has a place.
    """

    def __init__(self, message: str, *, kind: str = "input", span=None, source: str | None = None):
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.span = span
        self.source = source

    def where(self):
        """(line number, column, line text) of the span's start, 1-based line and 0-based column."""
        if self.span is None or self.source is None:
            return None
        start = self.span[0]
        line_start = self.source.rfind("\n", 0, start) + 1
        line_end = self.source.find("\n", start)
        if line_end == -1:
            line_end = len(self.source)
        lineno = self.source.count("\n", 0, start) + 1
        return lineno, start - line_start, self.source[line_start:line_end]
