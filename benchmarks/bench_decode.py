"""Decoding speed, CPU time, memory and exactness on videos like real ones, against the decoders users could pick.

Files (generated once into --cache-dir: natural-like motion, x264 with one slice per frame, as camera footage has):
  - 5 minutes of 1280x720 with x264's default GOP (250) and 3 B-frames, and the same at GOP 60,
  - 2 minutes of 1280x720 MPEG-TS with B-frames (seeking in TS is not trusted: the decoder reads it forward),
  - a short 1280x720 clip of 132 frames in one GOP, where nearly every frame is wanted (100),
  - 2 seconds of 3840x2160 at 60 fps, 100 frames at native size.

Decoders, 100 frames at the same indices (the package's uniform sampling): this package's exact mode with the
threading it chooses, the same forced to one thread, its keyframe mode, transformers' `load_video(backend="pyav")`,
decord2 with its default threads and torchcodec, the last two when importable (`pip install "v2xum[bench]"` for
decord2; torchcodec needs the system's FFmpeg libraries). In one process, interleaved, medians of --repeats: wall
time, CPU time (all threads), and whether every returned frame equals a plain sequential decode's frame at that
index (`exact`: identical pixels; `right frame`: closest to the reference frame among its neighbours, for decoders
whose colour conversion differs). Then, each in a fresh process: the short clip and the 4K clip, with the peak
memory the decode added above the imports' (`--fresh`); and highlight reels cut from a 12-minute file (`--memory`).

Goals: exact 100 frames of the 5-minute default-GOP file >= 2x `load_video` in wall time and not slower than
decord2; on the short clip not slower than decord2 in a fresh process; 100 4K frames at native size peak at most
the output + 300 MB.

    python benchmarks/bench_decode.py [--cache-dir DIR] [--repeats 3] [--fresh] [--memory]
"""

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np

from processing.video_decoding import decode_video
from v2xum.testing import write_natural_video


VIDEOS = {
    "5 min 720p, GOP 250 + B": dict(name="x264_default.mp4", seconds=300, gop=250),
    "5 min 720p, GOP 60 + B": dict(name="gop60.mp4", seconds=300, gop=60),
    "2 min 720p MPEG-TS + B": dict(name="broadcast.ts", seconds=120, gop=60, container_format="mpegts"),
    "short 720p clip, 100 of 132": dict(name="short_132.mp4", seconds=132 / 30, gop=300),
    "4K 60 fps, 100 of 120": dict(name="4k_2s_60fps.mp4", seconds=2, fps=60, width=3840, height=2160, gop=60),
}


def cached_video(cache_dir: Path, name: str, **options) -> str:
    path = cache_dir / name
    if not path.exists():
        start = time.perf_counter()
        write_natural_video(path.with_suffix(".part" + path.suffix), **options)
        path.with_suffix(".part" + path.suffix).rename(path)
        print(f"  generated {name} in {time.perf_counter() - start:.0f} s ({path.stat().st_size / 1e6:.0f} MB)")
    return str(path)


# -- the decoders -----------------------------------------------------------------------------------------------------


def _load_video(path: str, indices: list[int]) -> np.ndarray:
    from transformers.video_utils import load_video

    return load_video(path, backend="pyav", sample_indices_fn=lambda metadata, **kw: np.array(indices))[0]


def _decord(path: str, indices: list[int]) -> np.ndarray:
    import decord

    return decord.VideoReader(path, ctx=decord.cpu(0)).get_batch(indices).asnumpy()


def _torchcodec(path: str, indices: list[int]) -> np.ndarray:
    from torchcodec.decoders import VideoDecoder

    return VideoDecoder(path, seek_mode="exact").get_frames_at(indices).data.permute(0, 2, 3, 1).numpy()


def decoders() -> dict:
    """name -> fn(path, num_frames, indices) -> frames, for the decoders importable here."""
    found = {
        "v2xum exact": lambda path, n, idx: decode_video(path, n).frames,
        "v2xum exact, 1 thread": lambda path, n, idx: decode_video(path, n, decode_threads=1).frames,
        "v2xum keyframes": lambda path, n, idx: decode_video(path, n, mode="keyframes").frames,
        "load_video(pyav)": lambda path, n, idx: _load_video(path, idx),
    }
    if importlib.util.find_spec("decord"):
        found["decord2"] = lambda path, n, idx: _decord(path, idx)
    if importlib.util.find_spec("torchcodec"):
        found["torchcodec"] = lambda path, n, idx: _torchcodec(path, idx)
    return found


# -- exactness --------------------------------------------------------------------------------------------------------


def reference_frames(path: str, wanted: set[int]) -> dict[int, np.ndarray]:
    """Frames of a plain sequential decode (one thread, every frame, numbered in output order), converted where
    wanted."""
    frames = {}
    with av.open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "NONE"
        for index, frame in enumerate(container.decode(stream)):
            if index in wanted:
                frames[index] = frame.to_ndarray(format="rgb24")
    return frames


def judge(frames: np.ndarray, indices: list[int], reference: dict[int, np.ndarray]) -> tuple[bool, bool]:
    """(identical pixels, right frames): each returned frame against the reference frame at its index, and whether
    that reference frame is the closest of its neighbours (i-2 .. i+2)."""
    if frames is None or len(frames) != len(indices) or frames.shape[1:] != reference[indices[0]].shape:
        return False, False
    identical, right = True, True
    for frame, index in zip(frames, indices):
        identical &= bool(np.array_equal(frame, reference[index]))
        distance = {
            j: float(np.abs(frame.astype(np.int16) - reference[j]).mean())
            for j in range(index - 2, index + 3)
            if j in reference
        }
        right &= min(distance, key=distance.get) == index
    return identical, right


# -- in one process, interleaved --------------------------------------------------------------------------------------


def measure(fn) -> tuple[float, float, np.ndarray | None]:
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        frames = fn()
    except Exception as error:  # a decoder that fails on a file is a result, not a crash
        print(f"    failed: {type(error).__name__}: {str(error)[:120]}")
        frames = None
    return time.perf_counter() - wall, time.process_time() - cpu, frames


def speed(paths: dict[str, str], repeats: int, num_frames: int) -> list[dict]:
    rows = []
    for label, path in paths.items():
        probe = decode_video(path, num_frames, shortest_edge=16)
        indices = probe.frame_indices
        reference = reference_frames(path, {j for i in indices for j in range(i - 2, i + 3)})
        runs = {name: [] for name in decoders()}
        verdicts = {}
        for _ in range(repeats):
            for name, fn in decoders().items():
                wall, cpu, frames = measure(lambda: fn(path, num_frames, indices))
                runs[name].append((wall, cpu))
                if name not in verdicts:
                    chosen = indices if name != "v2xum keyframes" else None
                    verdicts[name] = judge(frames, chosen, reference) if chosen else ("-", "-")
                del frames
        for name, times in runs.items():
            rows.append(
                {
                    "video": label,
                    "decoder": name,
                    "wall_s": statistics.median(t[0] for t in times),
                    "cpu_s": statistics.median(t[1] for t in times),
                    "exact": verdicts[name][0],
                    "right_frames": verdicts[name][1],
                }
            )
    return rows


# -- in fresh processes -----------------------------------------------------------------------------------------------

FRESH_CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, sys.argv[4])
import numpy as np
import bench_decode
name, path, indices = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
fn = bench_decode.decoders()[name]
imported = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
wall, cpu, frames = bench_decode.measure(lambda: fn(path, len(indices), indices))
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
output = frames.nbytes / 2**20 if frames is not None else 0
print(json.dumps({"wall_s": wall, "cpu_s": cpu, "added_mb": peak - imported, "output_mb": output}))
"""


def fresh(paths: dict[str, str], num_frames: int) -> list[dict]:
    rows = []
    for label in ("short 720p clip, 100 of 132", "4K 60 fps, 100 of 120"):
        path = paths[label]
        indices = decode_video(path, num_frames, shortest_edge=16).frame_indices
        for name in decoders():
            if name == "v2xum keyframes":
                continue
            result = subprocess.run(
                [sys.executable, "-c", FRESH_CHILD, name, path, json.dumps(indices), str(Path(__file__).parent)],
                capture_output=True,
                text=True,
            )
            if result.returncode:
                print(f"    {name} on {label} failed: {result.stderr.strip().splitlines()[-1]}")
                continue
            rows.append({"video": label, "decoder": name, **json.loads(result.stdout.strip().splitlines()[-1])})
    return rows


REEL_CHILD = r"""
import json, resource, sys, time
from v2xum.export import write_highlights
imported = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
start = time.perf_counter()
written = write_highlights(sys.argv[1], [(30.0, 30.0 + float(sys.argv[3]) * 60)], sys.argv[2])
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"minutes": sys.argv[3], "added_mb": round(peak - imported), "wall_s": time.perf_counter() - start}))
"""


def reels(cache_dir: Path) -> list[dict]:
    long = cached_video(cache_dir, "12min_720p.mp4", seconds=720, fps=10, gop=100)
    rows = []
    with tempfile.TemporaryDirectory() as out:
        for minutes in ("1", "10"):
            args = [long, os.path.join(out, f"reel{minutes}.mp4"), minutes]
            result = subprocess.run([sys.executable, "-c", REEL_CHILD, *args], capture_output=True, text=True)
            rows.append(json.loads(result.stdout.strip().splitlines()[-1]))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache-dir", default=os.path.join(tempfile.gettempdir(), "v2xum-bench-videos"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--num-frames", type=int, default=100)
    parser.add_argument("--only", nargs="*", help="only these videos (labels' first words, e.g. short 4K)")
    parser.add_argument("--fresh", action="store_true", help="also the short and 4K clips in fresh processes")
    parser.add_argument("--memory", action="store_true", help="also highlight reels' memory")
    parser.add_argument("--no-speed", action="store_true", help="skip the in-process table")
    args = parser.parse_args()
    cache_dir = Path(args.cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    specs = {k: v for k, v in VIDEOS.items() if not args.only or any(k.startswith(o) for o in args.only)}
    paths = {label: cached_video(cache_dir, **spec) for label, spec in specs.items()}
    print(f"decoders: {', '.join(decoders())}; cores: {len(os.sched_getaffinity(0))}")
    if not args.no_speed:
        rows = speed(paths, args.repeats, args.num_frames)
        print("\n| video | decoder | wall | CPU | exact | right frames | wall vs load_video | wall vs decord2 |")
        print("|---|---|---|---|---|---|---|---|")
        for row in rows:
            same_video = {r["decoder"]: r["wall_s"] for r in rows if r["video"] == row["video"]}
            ratios = [
                f"{same_video[base] / row['wall_s']:.2f}x" if base in same_video else "-"
                for base in ("load_video(pyav)", "decord2")
            ]
            print(
                f"| {row['video']} | {row['decoder']} | {row['wall_s']:.2f} s | {row['cpu_s']:.2f} s | "
                f"{row['exact']} | {row['right_frames']} | {' | '.join(ratios)} |"
            )
    if args.fresh:
        print("\n| video (fresh process) | decoder | wall | CPU | peak added | output | added - output |")
        print("|---|---|---|---|---|---|---|")
        for row in fresh(paths, args.num_frames):
            print(
                f"| {row['video']} | {row['decoder']} | {row['wall_s']:.2f} s | {row['cpu_s']:.2f} s | "
                f"{row['added_mb']:.0f} MB | {row['output_mb']:.0f} MB | {row['added_mb'] - row['output_mb']:.0f} MB |"
            )
    if args.memory:
        print("\n| highlight reel from a 12-minute 720p file | peak added | wall |\n|---|---|---|")
        for row in reels(cache_dir):
            print(f"| {row['minutes']} min | {row['added_mb']} MB | {row['wall_s']:.1f} s |")


if __name__ == "__main__":
    main()
