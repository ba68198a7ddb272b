"""Text for the terminal: control and format characters from a CSV or a model are shown escaped, never obeyed."""

from __future__ import annotations

import sys
import unicodedata


def escape(text: object) -> str:
    """`text` with every control or invisible format character (ESC, OSC, BEL, NUL, bidi overrides, ...) escaped."""
    out = []
    for ch in str(text):
        if unicodedata.category(ch) in ("Cc", "Cf"):
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)


def one_line(exc: BaseException, limit: int = 300) -> str:
    """An exception as one short line: its type and the first line of its message."""
    first = (str(exc).strip().splitlines() or [""])[0]
    return f"{type(exc).__name__}: {first[:limit]}"


def cap(text: str, limit: int = 4096) -> str:
    """At most `limit` characters of `text`, saying how much was cut."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]} [... {len(text) - limit} more characters cut]"


def say(text: str = "") -> None:
    """Print to standard output, every line escaped: a CSV cell or a model's answer can hold escape sequences that
    would set the title, clear the screen or hide text."""
    print("\n".join(escape(line) for line in text.split("\n")))


def complain(message: str) -> None:
    """Print `firstpass: message` to standard error, escaped."""
    print(escape(f"firstpass: {message}"), file=sys.stderr)
