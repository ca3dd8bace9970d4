"""Memory over a long import: RSS growth while streaming 100k and then 1M mentions through the ingest path.

Slow on purpose (about 9 minutes here at ~2k mentions/s); `make bench` runs it with the others. BENCH_MEMORY_MAX
lowers the large run, e.g. BENCH_MEMORY_MAX=200000 for a quick check.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from pathlib import Path

from bench.bench_ingest import _memory
from bench.report import table

LARGE = int(os.environ.get("BENCH_MEMORY_MAX", "1000000"))
SMALL = max(1, LARGE // 10)


def run() -> str:
    work = Path(tempfile.mkdtemp(prefix="bench-ingest-memory-"))
    try:
        rows = []
        for n in (SMALL, LARGE):
            before, growth, rate = asyncio.run(_memory(n, work))
            rows.append([n, before, growth, rate])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    out = table(
        ["mentions streamed (SQLite, batches of 1,000)", "RSS before (MB)", "RSS growth (MB)", "mentions/s"], rows
    )
    verdict = "flat" if rows[1][2] <= rows[0][2] * 2 + 10 else "NOT flat"
    return (
        f"{out}\n\nGrowth at {LARGE:,} vs {SMALL:,} mentions: {verdict} (10x the mentions, "
        f"{rows[1][2]:.1f} MB vs {rows[0][2]:.1f} MB). The baseline for memory is the smaller run in the same process "
        "setup; growth that does not scale with the count means nothing is kept per mention."
    )
