"""scripts/compare.py: the paired table from two per-episode CSVs, and a clear error."""

import csv
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _write(path, successes):
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["seed", "mission", "success", "spl"])
        writer.writeheader()
        writer.writerows({"seed": i, "mission": "go", "success": s, "spl": s} for i, s in enumerate(successes))
    return str(path)


def _compare(*args):
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "compare.py"), *args], capture_output=True,
                          text=True, timeout=60)


def test_compare_script_prints_the_paired_table(tmp_path):
    a = _write(tmp_path / "a_episodes.csv", [0, 0, 1, 1])
    b = _write(tmp_path / "b_episodes.csv", [1, 1, 1, 0])
    done = _compare(a, b)
    assert done.returncode == 0, done.stderr
    assert "4 episodes in both" in done.stdout and "+0.250" in done.stdout
    assert "2 episodes solved only by B, 1 only by A" in done.stdout
    missing = _compare(a, str(tmp_path / "missing.csv"))
    assert missing.returncode == 2 and missing.stderr.strip().endswith("no such file")
