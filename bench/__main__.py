"""`make bench`: run every bench/bench_*.py (or the ones named) and rewrite docs/benchmarks.md from their tables."""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys
import time
from pathlib import Path

import bench
from bench.data import MissingData
from bench.report import write_report
from crm.integrations.hooks import install as install_session_hooks


def main(argv: list[str]) -> int:
    install_session_hooks()  # the benchmarks write as the app and worker do: change log and outbox included
    names = argv or sorted(m.name for m in pkgutil.iter_modules(bench.__path__) if m.name.startswith("bench_"))
    sections: dict[str, str] = {}
    for name in names:
        module = importlib.import_module(f"bench.{name}")
        started, load = time.perf_counter(), os.getloadavg()[0]
        print(f"== {name}", flush=True)
        try:
            table: str = module.run()
        except MissingData as exc:
            # The report keeps this benchmark's last measured section; nothing is invented for it.
            print(f"skipped {name}: {exc}", flush=True)
            continue
        print(table, flush=True)
        sections[name] = (
            f"{table}\n\n_{time.perf_counter() - started:.0f} s for this benchmark; the 1-minute load average was "
            f"{load:.1f} on this machine's {os.cpu_count()} cores when it started._"
        )
    write_report(Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md", sections)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
