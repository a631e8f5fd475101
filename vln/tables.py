"""Plain-text tables of evaluation results."""

from __future__ import annotations

from collections.abc import Mapping

from vln.metrics import METRIC_NAMES

_SHORT = {"success_rate": "SR", "spl": "SPL", "navigation_error": "NE", "oracle_success_rate": "OSR", "ndtw": "nDTW",
          "sdtw": "SDTW", "path_length": "PL", "episodes": "episodes"}


def format_table(rows: Mapping[str, Mapping[str, float]]) -> str:
    """One line per named result (e.g. per split or policy), one column per metric."""
    header = f"{'':<16}" + "".join(f"{_SHORT[m]:>9}" for m in METRIC_NAMES)
    lines = [header]
    for name, result in rows.items():
        cells = []
        for m in METRIC_NAMES:
            v = result.get(m, float("nan"))
            cells.append(f"{int(v):>9d}" if m == "episodes" else f"{v:>9.3f}")
        lines.append(f"{name:<16}" + "".join(cells))
    return "\n".join(lines)


def format_markdown(rows: Mapping[str, Mapping[str, float]]) -> str:
    """The same table as ``format_table``, in Markdown (e.g. for a README)."""
    lines = ["| | " + " | ".join(_SHORT[m] for m in METRIC_NAMES) + " |", "|---" * (len(METRIC_NAMES) + 1) + "|"]
    for name, result in rows.items():
        cells = []
        for m in METRIC_NAMES:
            v = result.get(m, float("nan"))
            cells.append(f"{int(v)}" if m == "episodes" else f"{v:.3f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
