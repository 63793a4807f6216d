"""Benchmarks that reach into the package: run on a tiny clip, so a renamed or bypassed internal
shows here rather than as a silently empty figure."""
from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT


def test_video_stages_times_every_stage(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "video_stages.py"), "--quick", "--size", "160x96",
                           "--workdir", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "NOT TIMED" not in proc.stdout, proc.stdout
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        from video_stages import STAGES
    finally:
        sys.path.remove(str(ROOT / "bench"))
    for label in STAGES:
        row = next(line for line in proc.stdout.splitlines() if label in line)
        assert float(row.split()[-1]) > 0, row
