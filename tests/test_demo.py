"""`make demo` stays true: the demo script runs to the end on embedded defaults (no services, no model)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_demo_runs_end_to_end() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "demo.py")],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert "sql_run_query" in out and "code_find_symbol" in out and "docs_search_docs" in out
    assert "=== completed ===" in out  # the mesh answered
    # documents, an aggregation with a filter and a join, and code — each part answered with its evidence
    assert "30-day refund window" in out and "refunds.md" in out
    assert "JOIN customers" in out and "customers.country = 'Germany'" in out and "'2024-01-01'" in out
    assert "`refund_order` at refunds.py:28-35" in out
    assert "demo finished" in out
