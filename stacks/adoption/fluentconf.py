"""A reader for Fluentd's configuration format (v1), enough to tell whether two
fluent.conf files mean the same: directives, their arguments, parameters with
their values as Fluentd reads them (quotes, escapes, comments), nested sections.

No maintained Python package reads this format. What this reader cannot judge
(`@include`, embedded Ruby in "#{…}") raises Unsupported, so that a caller keeps
such a file as it is rather than guess."""
import json
import re
from dataclasses import dataclass, field


class Unsupported(ValueError):
    """Not read here: a syntax error, or a construct whose meaning depends on more
    than this file."""


@dataclass
class Directive:
    name: str
    arg: str = ""
    params: dict = field(default_factory=dict)  # {key: value as Fluentd reads it}
    children: list = field(default_factory=list)


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "f": "\f", "b": "\b", "0": "\0", "s": " ", "e": "\x1b", "v": "\v",
            "a": "\a"}
_NAME = re.compile(r"[^\s<>/#]+")
_KEY = re.compile(r"[^\s#]+")
_VALUE_END = re.compile(r"[ \t]*(#[^\n]*)?(\r?\n|$)")


class _Reader:
    def __init__(self, text):
        self.text, self.pos = text, 0

    def error(self, message):
        line = self.text.count("\n", 0, self.pos) + 1
        raise Unsupported(f"line {line}: {message}")

    def eof(self):
        return self.pos >= len(self.text)

    def peek(self, n=1):
        return self.text[self.pos:self.pos + n]

    def skip_blank(self):
        """Spaces, newlines and whole-line comments."""
        while not self.eof():
            m = re.compile(r"[ \t\r\n]+|#[^\n]*").match(self.text, self.pos)
            if not m:
                return
            self.pos = m.end()

    def line_end(self):
        """Only spaces and a comment may follow a value on its line."""
        m = re.compile(r"[ \t]*(#[^\n]*)?(\n|$)").match(self.text, self.pos)
        if not m:
            self.error("expected the end of the line")
        self.pos = m.end()

    def parse(self, name="", arg="", top=True):
        node = Directive(name, arg)
        while True:
            self.skip_blank()
            if self.eof():
                if not top:
                    self.error(f"<{name}> is not closed")
                return node
            if self.peek(2) == "</":
                self.pos += 2
                m = _NAME.match(self.text, self.pos)
                closing = m.group(0) if m else ""
                self.pos = m.end() if m else self.pos
                if top or closing != name:
                    self.error(f"</{closing}> closes nothing open")
                m = re.compile(r"[ \t]*>").match(self.text, self.pos)
                if not m:
                    self.error("expected '>'")
                self.pos = m.end()
                self.line_end()
                return node
            if self.peek() == "<":
                self.pos += 1
                m = _NAME.match(self.text, self.pos)
                if not m:
                    self.error("a section without a name")
                self.pos = m.end()
                end = self.text.find(">", self.pos)
                newline = self.text.find("\n", self.pos)
                if end < 0 or (0 <= newline < end):
                    self.error("expected '>'")
                child_arg = self.text[self.pos:end].strip()
                self.pos = end + 1
                self.line_end()
                node.children.append(self.parse(m.group(0), child_arg, top=False))
                continue
            m = _KEY.match(self.text, self.pos)
            key = m.group(0)
            self.pos = m.end()
            if key in ("@include", "include"):
                raise Unsupported("@include: the included files are not read here")
            spaces = re.compile(r"[ \t]*").match(self.text, self.pos)
            self.pos = spaces.end()
            if self.eof() or self.peek() in "\r\n":
                node.params[key] = ""  # a key without a value
                self.line_end()
                continue
            if self.peek() == "#":
                self.error(f"{key}: a value that starts with '#'")  # a comment or a value? Left to Fluentd
            node.params[key] = self.literal()
            self.line_end()

    def literal(self):
        start = self.peek()
        if start in "\"'":
            return self.quoted()
        if start in "[{":
            try:
                value, end = json.JSONDecoder().raw_decode(self.text, self.pos)
            except ValueError:
                pass  # not JSON: Fluentd reads it as plain text too
            else:
                self.pos = end
                return ("json", json.dumps(value, sort_keys=True))
        # Unquoted: up to the end of the line or a comment, which needs a space
        # before its '#' ("a#b" is one value).
        out = []
        while not self.eof():
            if self.text[self.pos] != "#" and _VALUE_END.match(self.text, self.pos):
                break
            out.append(self.text[self.pos])
            self.pos += 1
        return "".join(out)

    def quoted(self):
        """A double-quoted value (escapes, and "#{…}" that Ruby would evaluate) or a
        single-quoted one (only \\' and \\\\ are escapes)."""
        quote = self.text[self.pos]
        self.pos += 1
        out = []
        while True:
            if self.eof():
                self.error("a quoted value is not closed")
            ch, nxt = self.text[self.pos], self.text[self.pos + 1:self.pos + 2]
            if ch == quote:
                self.pos += 1
                return "".join(out)
            if ch == "\\" and (quote == '"' or nxt in ("'", "\\")):
                out.append(_ESCAPES.get(nxt, nxt) if quote == '"' else nxt)
                self.pos += 2
                continue
            if quote == '"' and ch + nxt == "#{":
                raise Unsupported('"#{…}" embeds Ruby: its value is known only when Fluentd runs')
            out.append(ch)
            self.pos += 1


def parse(text):
    """fluent.conf text → its top-level Directive (name ''); Unsupported when it
    cannot be read here."""
    return _Reader(text).parse()
