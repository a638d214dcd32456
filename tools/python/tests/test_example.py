"""The example runs end to end (tiny settings, so CI stays quick) and prints its figures."""
import pathlib
import subprocess
import sys

EXAMPLE = pathlib.Path(__file__).resolve().parents[1] / "examples" / "original_analysis.py"


def test_original_analysis_runs():
    result = subprocess.run([sys.executable, str(EXAMPLE), "--sessions", "150", "--seed-epochs", "1",
                             "--session-epochs", "1", "--hidden-size", "8"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "seed task (13 features, with the leak)" in out
    assert "seed task (12 features, without hist_user_behavior_reason_end)" in out
    assert "repeat-last baseline" in out and "Bi-LSTM over the session" in out
    assert "hist_user_behavior_reason_end carries" in out
