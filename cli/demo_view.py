"""Where the demo's progress goes: redrawn in place on a terminal; plain lines, one every few seconds, when the
output is a file or a pipe (a log, CI), so what is written there reads top to bottom without redraw debris."""

from __future__ import annotations

import sys
import time
from collections import Counter

from rich.console import Console
from rich.live import Live

from cli.demo_report import COLUMNS, live_table
from libs.platform.observer import FlowObserver

PLAIN_EVERY_S = 5.0  # seconds between progress lines when the output is not a terminal
PLAIN_WIDTH = 160  # columns when written to a file: no table cell is cut and no summary line wraps


def demo_console(stream=None) -> Console:
    """Returns the demo's console: the terminal's, or an uncoloured one of PLAIN_WIDTH columns for a file/pipe."""
    stream = stream or sys.stdout
    if stream.isatty():
        return Console(file=stream)
    return Console(file=stream, width=PLAIN_WIDTH, no_color=True, highlight=False, emoji=False)


def live_view(console: Console, observer: FlowObserver, expected: int, *, prefix: str = "demo"):
    """Returns the context manager the demo updates with ``update(renderable)``: a rich Live on a terminal, else
    a PlainProgress that prints a line now and then and the final table at the end (workloads whose id starts
    with ``prefix``)."""
    if console.is_terminal:
        return Live(live_table(observer, expected, prefix=prefix), console=console, refresh_per_second=4)
    return PlainProgress(console, observer, expected, prefix=prefix)


class PlainProgress:
    """Progress as plain lines: states summed over teams, every PLAIN_EVERY_S, then the per-team table once."""

    def __init__(self, console: Console, observer: FlowObserver, expected: int, *, prefix: str = "demo") -> None:
        self.console, self.observer, self.expected, self.prefix = console, observer, expected, prefix
        self.started = self.last = time.monotonic()

    def __enter__(self) -> "PlainProgress":
        self.started = self.last = time.monotonic()
        return self

    def __exit__(self, *exc) -> None:
        self.console.print(self.line())
        self.console.print(live_table(self.observer, self.expected, prefix=self.prefix))

    def update(self, _renderable=None) -> None:
        if time.monotonic() - self.last >= PLAIN_EVERY_S:
            self.last = time.monotonic()
            self.console.print(self.line())

    def line(self) -> str:
        """Returns one progress line: elapsed seconds, workloads seen, their states, repairs and dead letters."""
        o = self.observer
        states = Counter(v.state for k, v in o.workloads.items() if k.startswith(self.prefix))
        counts = ", ".join(f"{name} {sum(states[s] for s in group)}" for name, group in COLUMNS.items())
        return (f"{time.monotonic() - self.started:4.0f}s  {sum(states.values())}/{self.expected} seen: {counts}; "
                f"node repairs {o.counts['NodeRepairTransitioned']}, dead letters {len(o.dead_letters)}")
