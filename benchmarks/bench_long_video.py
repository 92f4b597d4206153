"""Windowed summaries of 30-minute, 1-hour and 2-hour videos: time should grow linearly, memory not at all.

Generates 640x360 H.264 videos with natural-like motion at a low frame rate (--fps, to generate them quickly; the
decoder's work per window does not depend on it much), and summarizes each with a tiny random V2Xum
(`v2xum.testing`) through `pipeline(..., window_seconds=...)`, each run in a fresh child process. Prints wall time
and peak RSS per video, and the ratios the goals are about: 2 h / 1 h time <= 2.2x; 2 h peak RSS within 15% of
the 30-minute run.

    python benchmarks/bench_long_video.py [--cache-dir DIR] [--window-seconds 60] [--fps 2]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from v2xum.testing import write_natural_video
from v2xum.tiny_models import write_tiny_checkpoint


CHILD = r"""
import json, resource, sys, time
model, video, window, batch = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
import modeling_v2xum
from transformers import pipeline
summarize = pipeline("video-summarization", model=model)
start = time.perf_counter()
summary = summarize(video, task="both", window_seconds=window, batch_size=batch, max_new_tokens=8)
print(json.dumps({"seconds": time.perf_counter() - start, "windows": len(summary["windows"]),
                  "keyframes": len(summary["keyframes"]),
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache-dir", default=os.path.join(tempfile.gettempdir(), "v2xum-bench-videos"))
    parser.add_argument("--window-seconds", type=float, default=60.0)
    parser.add_argument("--fps", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=4)
    args = parser.parse_args()
    cache = Path(args.cache_dir)
    cache.mkdir(parents=True, exist_ok=True)

    with tempfile.TemporaryDirectory() as workdir:
        model = write_tiny_checkpoint(Path(workdir, "tiny"))
        rows = {}
        for minutes in (30, 60, 120):
            path = cache / f"long_{minutes}min_{args.fps}fps_360p.mp4"
            if not path.exists():
                start = time.perf_counter()
                part = path.with_suffix(".part.mp4")
                write_natural_video(
                    part, minutes * 60, fps=args.fps, width=640, height=360, gop=10 * args.fps, preset="ultrafast"
                )
                part.rename(path)
                print(f"generated {path.name} in {time.perf_counter() - start:.0f} s")
            result = subprocess.run(
                [sys.executable, "-c", CHILD, str(model), str(path), str(args.window_seconds), str(args.batch_size)],
                capture_output=True,
                text=True,
                check=True,
            )
            rows[minutes] = json.loads(result.stdout.strip().splitlines()[-1])

    print(f"\nwindows of {args.window_seconds:g} s, tiny model, batch {args.batch_size}\n")
    print("| video | windows | wall | peak RSS |\n|---|---|---|---|")
    for minutes, row in rows.items():
        print(f"| {minutes} min | {row['windows']} | {row['seconds']:.1f} s | {row['peak_rss_mb']:.0f} MB |")
    print(f"\ntime 2 h / 1 h: {rows[120]['seconds'] / rows[60]['seconds']:.2f}x (goal <= 2.2x)")
    print(f"peak RSS 2 h / 30 min: {rows[120]['peak_rss_mb'] / rows[30]['peak_rss_mb']:.3f} (goal <= 1.15)")


if __name__ == "__main__":
    main()
