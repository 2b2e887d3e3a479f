"""Words for the user: an exception's message on one line (the CLI never shows a traceback)."""

from __future__ import annotations


def one_line(exc: BaseException, limit: int = 400) -> str:
    """Returns the exception's message on one line (YAML and connection errors span several), cut at ``limit``."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[:limit] + " ..."
