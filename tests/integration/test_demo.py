"""The default demo, as a user runs it with its output going to a file: it finishes, shows node repairs (the
fleet injects GPU faults), and what it writes reads top to bottom: progress lines, no redraws or colours."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
REPO = Path(__file__).parents[2]


async def test_the_default_demo_written_to_a_file_shows_repairs_and_reads_plainly(kafka_bootstrap, postgres_admin_dsn,
                                                                                tmp_path):
    out = tmp_path / "demo.txt"
    env = {**os.environ, "BATCHYARD_KAFKA_BOOTSTRAP": kafka_bootstrap, "BATCHYARD_DATABASE_URL": postgres_admin_dsn}
    with out.open("wb") as file:
        demo = await asyncio.create_subprocess_exec(sys.executable, "-m", "cli.main", "demo", cwd=REPO, env=env,
                                                    stdout=file, stderr=asyncio.subprocess.STDOUT)
        code = await demo.wait()
    text = out.read_text()
    assert code == 0, text
    assert "\x1b" not in text and "\r" not in text, "terminal control sequences in a file"
    progress = [line for line in text.splitlines() if re.match(r"^\s*\d+s  \d+/122 seen: queued", line)]
    assert len(progress) >= 2, text
    assert "…" not in text, "a cut table cell"
    repairs = int(re.search(r"node repair transitions: (\d+)", text).group(1))
    assert repairs >= 4, text  # at least one node cordoned, drained, repaired and back in service
