"""``workloads list --watch``: reread every ``interval`` seconds; redraw the table in place on a terminal, else
print one plain line per workload that appeared or changed. Ctrl-C ends it cleanly (exit 0)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

from rich.console import Console
from rich.live import Live

from cli.workloads_view import changes, table, watch_line
from libs.readmodel import WorkloadSummary


def watch(fetch: Callable[[], list[WorkloadSummary]], console: Console, interval: float,
          sleep: Callable[[float], None] = time.sleep) -> None:
    """Runs until interrupted; ``fetch`` reads the list afresh each time."""
    try:
        if console.is_terminal:
            with Live(table(fetch()), console=console, auto_refresh=False) as live:
                while True:
                    sleep(interval)
                    live.update(table(fetch()), refresh=True)
        else:
            seen: dict[str, WorkloadSummary] = {}
            while True:
                rows = fetch()
                now = datetime.now(UTC)
                for w in changes(seen, rows):
                    console.print(watch_line(w, now), highlight=False, soft_wrap=True)
                console.file.flush()
                seen = {w.workload_id: w for w in rows}
                sleep(interval)
    except KeyboardInterrupt:
        return
