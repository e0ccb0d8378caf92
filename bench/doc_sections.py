"""Sections of docs/performance.md that a benchmark writes by itself (no dependencies: every
benchmark environment imports it)."""

from __future__ import annotations

import re
from pathlib import Path

# The sections of the benchmarks that own one go before this one, which bench/run.py writes.
TARGETS = "\n## Targets of issue 3"


def write_section(doc: Path, title: str, lines: list[str]) -> None:
    """Replace the section ``title`` (a ``## `` heading) of ``doc`` with ``lines``, or add it before the
    issue-3 targets (else at the end)."""
    text = doc.read_text() if doc.exists() else "# Performance\n"
    section = "\n".join(lines).strip("\n") + "\n"
    if title in text:
        head, _, rest = text.partition(title)
        following = re.search(r"^## ", rest, flags=re.M)
        tail = rest[following.start():] if following else ""
        text = head.rstrip("\n") + "\n\n" + section + ("\n" + tail if tail else "")
    elif TARGETS in text:
        head, _, tail = text.partition(TARGETS)
        text = head.rstrip("\n") + "\n\n" + section + TARGETS + tail
    else:
        text = text.rstrip("\n") + "\n\n" + section
    doc.write_text(text)
