"""Decoding speed and memory on videos like real ones, against transformers' `load_video(backend="pyav")`.

Speed (same process, best of --repeats, identical frames checked pixel for pixel): 100 exact frames and keyframe
mode on
  - a 5-minute 1280x720 H.264 file with x264's default GOP (250) and B-frames (3),
  - the same at GOP 60,
  - a 2-minute MPEG-TS with B-frames (seeking in TS is not trusted: the decoder reads it forward).
Goals: exact >= 2x load_video on the x264-default file; keyframe mode >= 10x.

Memory (`--memory`, each case in a fresh child process; peak RSS = ru_maxrss, and what the work added to the peak
the imports alone reach; the CUDA build of torch this project pins maps a lot at import):
  - 100 frames of a 2-second 4K clip (60 fps) through the video processor (goal: under 600 MB),
  - highlight reels of 1 and 10 minutes cut from a 12-minute 720p file (goal: the 10-minute reel under 400 MB, and
    no growth with reel length).

    python benchmarks/bench_decode.py [--cache-dir DIR] [--repeats 2] [--memory]

Videos are generated (natural-like motion: a camera panning over a textured scene with moving objects) into
--cache-dir and reused on later runs.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from processing.video_decoding import decode_video
from v2xum.testing import write_natural_video


SPEED_VIDEOS = {
    "5 min 720p, x264 default GOP 250 + B-frames": dict(name="x264_default.mp4", seconds=300, gop=250),
    "5 min 720p, GOP 60 + B-frames": dict(name="gop60.mp4", seconds=300, gop=60),
    "2 min 720p MPEG-TS, B-frames": dict(name="broadcast.ts", seconds=120, gop=60, container_format="mpegts"),
}


def cached_video(cache_dir: Path, name: str, **options) -> str:
    path = cache_dir / name
    if not path.exists():
        start = time.perf_counter()
        write_natural_video(path.with_suffix(".part" + path.suffix), **options)
        path.with_suffix(".part" + path.suffix).rename(path)
        print(f"  generated {name} in {time.perf_counter() - start:.0f} s ({path.stat().st_size / 1e6:.0f} MB)")
    return str(path)


def best_of(repeats: int, fn):
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def speed(cache_dir: Path, repeats: int, num_frames: int) -> list[dict]:
    from transformers.video_utils import load_video

    rows = []
    for label, spec in SPEED_VIDEOS.items():
        spec = dict(spec)
        path = cached_video(cache_dir, spec.pop("name"), **spec)
        exact_s, exact = best_of(repeats, lambda: decode_video(path, num_frames))
        fast_s, fast = best_of(repeats, lambda: decode_video(path, num_frames, mode="keyframes"))
        indices = np.array(exact.frame_indices)
        base_s, (base_frames, _) = best_of(
            repeats, lambda: load_video(path, backend="pyav", sample_indices_fn=lambda metadata, **kw: indices)
        )
        rows.append(
            {
                "video": label,
                "exact_s": exact_s,
                "keyframes_s": fast_s,
                "load_video_s": base_s,
                "exact_speedup": base_s / exact_s,
                "keyframes_speedup": base_s / fast_s,
                "identical": bool(np.array_equal(exact.frames, base_frames)),
                "keyframes": len(fast.frames),
            }
        )
    return rows


MEMORY_CHILD = r"""
import json, resource, sys, time
case, path = sys.argv[1], sys.argv[2]
if case == "processor":
    from processing import V2XumVideoProcessor
else:
    from v2xum.export import write_highlights
imported = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # the torch/transformers stack itself
start = time.perf_counter()
if case == "processor":
    out = V2XumVideoProcessor(num_frames=100)(path, return_tensors="pt")
    detail = list(out["pixel_values_videos"].shape)
elif case.startswith("reel"):
    minutes = float(case[4:])
    written = write_highlights(path, [(30.0, 30.0 + minutes * 60)], sys.argv[3])
    detail = written
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"case": case, "peak_rss_mb": round(peak), "added_mb": round(peak - imported),
                  "seconds": round(time.perf_counter() - start, 1), "detail": detail}))
"""


def child(case: str, *args: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", MEMORY_CHILD, case, *args], capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def memory(cache_dir: Path) -> list[dict]:
    clip = cached_video(cache_dir, "4k_2s_60fps.mp4", seconds=2, fps=60, width=3840, height=2160, gop=60)
    long = cached_video(cache_dir, "12min_720p.mp4", seconds=720, fps=10, gop=100)
    rows = [child("processor", clip)]
    with tempfile.TemporaryDirectory() as out:
        for minutes in ("1", "10"):
            rows.append(child(f"reel{minutes}", long, os.path.join(out, f"reel{minutes}.mp4")))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache-dir", default=os.path.join(tempfile.gettempdir(), "v2xum-bench-videos"))
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--num-frames", type=int, default=100)
    parser.add_argument("--memory", action="store_true", help="also measure peak memory (4K clip, long reels)")
    parser.add_argument("--no-speed", action="store_true", help="skip the speed table")
    args = parser.parse_args()
    cache_dir = Path(args.cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)

    print("| video | exact | keyframes | load_video(pyav) | exact speed-up | keyframe speed-up | identical frames |")
    print("|---|---|---|---|---|---|---|")
    for row in [] if args.no_speed else speed(cache_dir, args.repeats, args.num_frames):
        print(
            f"| {row['video']} | {row['exact_s']:.2f} s | {row['keyframes_s']:.2f} s ({row['keyframes']} frames) | "
            f"{row['load_video_s']:.2f} s | {row['exact_speedup']:.2f}x | {row['keyframes_speedup']:.1f}x | "
            f"{row['identical']} |"
        )
    if args.memory:
        print("\n| case | peak RSS | added to the imports' peak | wall | detail |\n|---|---|---|---|---|")
        for row in memory(cache_dir):
            print(
                f"| {row['case']} | {row['peak_rss_mb']} MB | {row['added_mb']} MB | {row['seconds']} s | "
                f"{row['detail']} |"
            )


if __name__ == "__main__":
    main()
