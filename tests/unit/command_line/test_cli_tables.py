"""Every CLI table: a header row, numbers right-aligned, and in a pipe one plain line per row, never cut."""

from __future__ import annotations

import io

from cli.tables import print_table


def test_a_table_in_a_pipe_is_plain_with_a_header_and_one_line_per_row():
    out = io.StringIO()
    why = "QuotaExhausted: " + "x" * 600
    print_table(("QUEUE#POSITION", "WORKLOAD", "PRIORITY", "WHY"), [("nlp-cq#1", "w-1", 10, why),
                                                                   ("nlp-cq#2", "w-22", -5, None)],
                right=("PRIORITY",), stream=out)
    lines = out.getvalue().splitlines()
    assert len(lines) == 3 and "\x1b" not in out.getvalue()  # no colour codes in a file
    assert lines[0].split() == ["QUEUE#POSITION", "WORKLOAD", "PRIORITY", "WHY"]
    assert lines[1].split(None, 3) == ["nlp-cq#1", "w-1", "10", why]  # the long reason whole, on its row
    assert lines[2].split() == ["nlp-cq#2", "w-22", "-5"]
    priority_end = lines[0].index("PRIORITY") + len("PRIORITY")
    assert lines[1][:priority_end].endswith("10") and lines[2][:priority_end].endswith("-5")  # right-aligned
