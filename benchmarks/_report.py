"""What every benchmark script shares: replacing its own section of ``benchmarks/RESULTS.md``."""

from __future__ import annotations

from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def write_section(section: str, body: str, results: Path = RESULTS) -> None:
    """Put ``body`` (starting with the ``section`` heading line) in place of that section, or append it."""
    text = results.read_text() if results.exists() else "# Benchmark results\n"
    start = text.find(section + "\n")
    if start >= 0:
        end = text.find("\n## ", start + len(section))
        text = text[:start] + body + (text[end + 1 :] if end >= 0 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + body
    results.write_text(text.rstrip("\n") + "\n")
