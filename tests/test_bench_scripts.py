"""Every benchmark starts as a script from any folder: its imports resolve and `--help` runs nothing else."""

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = [p for p in sorted((Path(__file__).resolve().parents[1] / "bench").glob("*.py"))
         if '__name__ == "__main__"' in p.read_text()]  # scripts, not the helpers they share


@pytest.mark.parametrize("script", BENCH, ids=[s.name for s in BENCH])
def test_a_benchmark_script_answers_help_from_another_folder(script, tmp_path):
    done = subprocess.run([sys.executable, str(script), "--help"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("usage:")
