"""Every table the command line prints: rich, with a header row; plain and wide when written to a pipe or file."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence

from rich.console import Console
from rich.table import Table

PLAIN_WIDTH = 4096  # a pipe or file gets every row on one line, however long its reason (grep finds it whole)


def console(stream=None) -> Console:
    """Returns a console on ``stream`` (stdout): rich on a terminal, plain and wide in a pipe or file."""
    stream = stream or sys.stdout
    if stream.isatty():
        return Console(file=stream)
    return Console(file=stream, width=PLAIN_WIDTH, no_color=True, highlight=False, emoji=False, soft_wrap=False)


def table(header: Sequence[str], rows: Iterable[Sequence[object]], *, right: Iterable[str] = ()) -> Table:
    """Returns a borderless table with ``header`` in bold; the columns named in ``right`` (numbers) right-aligned."""
    t = Table(box=None, pad_edge=False, header_style="bold")
    aligned = set(right)
    for name in header:
        t.add_column(name, justify="right" if name in aligned else "left", overflow="fold")
    for row in rows:
        t.add_row(*("" if cell is None else str(cell) for cell in row))
    return t


def print_table(header: Sequence[str], rows: Iterable[Sequence[object]], *, right: Iterable[str] = (),
                stream=None) -> None:
    """Prints ``table(header, rows)`` on ``stream`` (stdout)."""
    console(stream).print(table(header, rows, right=right))
