"""What every bench script prints: a header saying where and how it ran, and plain-text tables.

Numbers without their machine, versions and command can't be compared or reproduced, so the header
is the same everywhere and the JSON record keeps it next to the rows.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import shlex
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any


def cpu_name() -> str:
    """The CPU model from /proc/cpuinfo (Linux), else whatever ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def package_versions(names: Sequence[str]) -> dict[str, str]:
    """Installed versions by distribution name, "-" for a missing one (read without importing)."""
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "-"
    return versions


def environment(packages: Sequence[str], **extra: Any) -> dict[str, Any]:
    """The header record: date, machine, CPU, versions, the command line, plus ``extra`` fields."""
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.node()} {platform.system()} {platform.release()} {platform.machine()}",
        "cpu": f"{cpu_name()}, {os.cpu_count()} logical cores",
        "python": platform.python_version(),
        # Other processes on a small machine skew CPU timings badly; the load says whether they ran.
        "load avg": "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg()),
        "versions": package_versions(packages),
        **extra,
        "command": command_line(),
    }


def command_line() -> str:
    """How this process was started, as a user would type it (``python -m bench.x --quick``)."""
    spec = getattr(sys.modules["__main__"], "__spec__", None)
    entry = f"-m {spec.name}" if spec is not None else shlex.quote(sys.argv[0])
    return " ".join(["python", entry, *map(shlex.quote, sys.argv[1:])])


def print_header(title: str, env: dict[str, Any]) -> None:
    """The header above every table, one ``key: value`` line per field of ``env``."""
    print(f"# {title}")
    for key, value in env.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k} {v}" for k, v in value.items())
        print(f"{key:>9}: {value}")
    print()


def format_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table, right-aligned so numbers line up in a terminal and paste into the docs."""
    cells = [[str(c) for c in columns]] + [[_cell(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    lines = ["| " + " | ".join(c.rjust(w) for c, w in zip(r, widths)) + " |" for r in cells]
    lines.insert(1, "|" + "|".join("-" * (w + 1) + ":" for w in widths) + "|")
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if value >= 1000:
            return f"{value:,.0f}"
        return f"{value:.3g}" if value < 10 else f"{value:.1f}"
    return str(value)


def median_seconds(fn: Callable[[], Any], *, warmup: int = 1, budget_s: float = 1.0, min_repeats: int = 3,
                   max_repeats: int = 20) -> tuple[float, int]:
    """Median wall time of ``fn`` after ``warmup`` calls; repeats fit ``budget_s`` (at least
    ``min_repeats``), so a slow baseline gets fewer repeats. Returns (seconds, repeats)."""
    first = 0.0
    for _ in range(warmup):
        start = time.perf_counter()
        fn()
        first = time.perf_counter() - start
    repeats = max(min_repeats, min(max_repeats, int(budget_s / max(first, 1e-9))))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), repeats


def write_json(path: str, record: dict[str, Any]) -> None:
    """Keep the full record (header and every row) for later comparison; non-JSON values as strings."""
    Path(path).write_text(json.dumps(record, indent=2, default=str) + "\n")
    print(f"wrote {path}")
