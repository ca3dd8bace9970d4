"""Markdown tables for benchmark results, and the docs/benchmarks.md writer that keeps other sections."""

from __future__ import annotations

import platform
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

MARK = re.compile(r"<!-- bench:(\w+) -->\n(.*?)<!-- /bench:\1 -->", re.S)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    def fmt(value: object) -> str:
        if isinstance(value, float):
            return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"
        if isinstance(value, int):
            return f"{value:,}"
        return str(value)

    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def write_report(path: Path, sections: dict[str, str]) -> None:
    """Replace the named sections in the report, keeping every other section as it was."""
    existing = path.read_text(encoding="utf-8") if path.exists() else ""
    kept = {m.group(1): m.group(2) for m in MARK.finditer(existing)}
    stamp = f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.machine()}, Python {platform.python_version()}"
    for name, body in sections.items():
        kept[name] = f"## {name}\n\n_Measured {stamp}._\n\n{body}\n"
    head = (
        existing.split("<!-- bench:", 1)[0]
        if existing
        else "# Benchmarks\n\nWritten by `make bench`; each table compares Warmline with the bare baseline measured in the same run.\n\n"
    )
    body = "".join(f"<!-- bench:{n} -->\n{kept[n]}<!-- /bench:{n} -->\n\n" for n in sorted(kept))
    path.write_text(head + body, encoding="utf-8")
