"""Stage 4: make generated source tidy, ruff-clean and self-identifying.

* long lines are wrapped inside parentheses at spaces (the printer emits spaces
  only between tokens), so no line exceeds ``WIDTH``;
* trailing whitespace and runs of blank lines are normalised;
* the first line's ``{body_sha256}`` placeholder becomes the SHA-256 of the rest;
* the result is checked to be valid Python.
"""

from __future__ import annotations

import hashlib
import re

__all__ = ["body_digest", "format_source"]

WIDTH = 99
_ASSIGN = re.compile(r"^(\s*)(return|[A-Za-z_][A-Za-z0-9_]* =) (.*)$")


def _wrap(line: str) -> list[str]:
    match = _ASSIGN.match(line)
    if len(line) <= WIDTH or match is None or "'" in line or '"' in line:
        return [line]
    indent, target, value = match.groups()
    inner = indent + "    "
    out, current = [f"{indent}{target} ("], ""
    for word in value.split(" "):
        if current and len(inner) + len(current) + 1 + len(word) > WIDTH:
            out.append(inner + current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    out.extend([inner + current, f"{indent})"])
    return out


def body_digest(body: str) -> str:
    """The SHA-256 the first line of a generated module states for the rest of it."""
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def format_source(code: str) -> str:
    """Wrap, tidy and hash ``code``; raises SyntaxError if it is not valid Python."""
    lines: list[str] = []
    for raw in code.splitlines():
        lines.extend(_wrap(raw.rstrip()))
    text = "\n".join(lines)
    text = re.sub(r"\n{3,}(?=\S)", "\n\n\n", text)
    text = re.sub(r"\n{2,}(?=    )", "\n", text)
    text = text.strip("\n") + "\n"
    head, _, body = text.partition("\n")
    text = head.replace("{body_sha256}", body_digest(body)) + "\n" + body
    compile(text, "<generated>", "exec")
    return text
