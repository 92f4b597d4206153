"""`benchmarks/gpu_check.py`, kept ready for GPU machines, runs its whole path with tiny shapes on the CPU."""

import json
import subprocess
import sys
from pathlib import Path

from modeling_v2xum import V2XumForConditionalGeneration


ROOT = Path(__file__).resolve().parents[1]


def test_gpu_check_runs_with_tiny_shapes(tmp_path):
    out, keep = tmp_path / "gpu_check.json", tmp_path / "kept"
    command = [sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--tiny", "--out", str(out)]
    subprocess.run([*command, "--keep", str(keep)], check=True, capture_output=True, cwd=tmp_path, timeout=300)
    results = json.loads(out.read_text())
    summary, step = results["bf16_summary"], results["lora_step"]
    assert summary["seconds"] > 0 and summary["keyframes"] >= 1 and summary["answer_chars"] > 0
    assert step["samples_per_s"] > 0 and step["loss"] > 0 and step["trainable_params"] > 0
    assert (
        results["4bit_summary"] == {"skipped": "bitsandbytes is not installed"} or "seconds" in results["4bit_summary"]
    )
    # What vLLM's check reads: a V2Xum folder that loads, and the video.
    loaded = V2XumForConditionalGeneration.from_pretrained(keep / "model")
    assert loaded.config.num_frame_tokens == 100 and (keep / "video.mp4").stat().st_size > 0
