"""Summarizing a collection with `v2xum summarize`, several ways, on this machine:

  (a) one process, decoding then generating in turn (--prefetch 0),
  (b) one process, decoding overlapped with generation (--prefetch 2, the default),
  (c) two processes (torchrun on the CPU; `accelerate launch` on GPUs), sharing the collection,
  (d) Ray Data on a local Ray instance (CPU decoding stage, one model actor).

Collections: `storyboard` (40 generated 64x64 StoryBoard videos: decoding is nearly free) or `natural` (20 clips of
1-2 minutes at 720p, natural-like motion, x264 with one slice per frame and 250-frame GOPs, as camera footage has:
decoding is real work). Prints videos/minute for each (wall time of the whole command, model loading included),
the time decoding alone takes (the engine's own decode of every video, in this process) and the share of (a) it
is, and checks that every way wrote the same summaries. Goal: (b) >= 1.4x (a) where decoding is at least a third of
the work.

    python benchmarks/bench_collection.py --collection natural [--ways a b] [--model folder] [--batch-size 4]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from v2xum.resources import demo_model_dir
from v2xum.storyboard import make_storyboard
from v2xum.testing import write_natural_video


def run(command: list[str], env: dict) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def summaries(out: Path) -> dict:
    records = (json.loads(p.read_text()) for p in out.glob("*/summary.json"))
    return {r["video"]["path"]: (r["text"], [k["frame_index"] for k in r["keyframes"]]) for r in records}


def collection(kind: str, cache: Path, count: int) -> list[str]:
    """The videos of a collection, made once into `cache`."""
    folder = cache / f"collection-{kind}-{count}"
    if kind == "storyboard":
        if not (folder / "videos").is_dir():
            make_storyboard(folder, n_videos=count, seed=4321)
        return sorted(str(p) for p in (folder / "videos").glob("*.mp4"))
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = folder / f"clip{i:02d}.mp4"
        if not path.is_file():
            seconds = 60 + 60 * i / max(count - 1, 1)  # 1 to 2 minutes
            write_natural_video(path.with_suffix(".part.mp4"), seconds, fps=30, seed=i)
            path.with_suffix(".part.mp4").rename(path)
        paths.append(str(path))
    return paths


def decode_only(videos: list[str], model: str) -> float:
    """Seconds the engine spends decoding the collection (as `v2xum summarize` decodes it), nothing else."""
    from v2xum.summarize import VideoSummarizer, load_pipeline

    summarizer = VideoSummarizer(load_pipeline(model, device="cpu"))
    start = time.perf_counter()
    for video in videos:
        summarizer.decode(video)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--collection", choices=["storyboard", "natural"], default="storyboard")
    parser.add_argument("--videos", type=int, help="default: 40 StoryBoard videos, 20 natural clips")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--model", default=str(demo_model_dir()))
    parser.add_argument("--ways", nargs="+", choices=list("abcd"), default=list("abcd"))
    parser.add_argument("--cache-dir", default=os.path.expanduser("~/.cache/v2xum-bench"))
    args = parser.parse_args()
    count = args.videos or (40 if args.collection == "storyboard" else 20)
    videos = collection(args.collection, Path(args.cache_dir), count)
    bin_dir = os.path.dirname(sys.executable)
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    common = [
        "summarize",
        *videos,
        "--model",
        args.model,
        "--max-new-tokens",
        "64",
        "--device",
        "cpu",
        "--batch-size",
        str(args.batch_size),
    ]
    v2xum = [os.path.join(bin_dir, "v2xum")]
    torchrun = [
        os.path.join(bin_dir, "torchrun"),
        "--nproc_per_node",
        "2",
        "--master_port",
        "29533",
        "-m",
        "v2xum.cli",
    ]
    commands = {
        "a": ("(a) one process, no overlap", v2xum + common + ["--prefetch", "0"]),
        "b": ("(b) one process, overlapped", v2xum + common + ["--prefetch", "2"]),
        "c": ("(c) two processes", torchrun + common),
        "d": ("(d) Ray Data, local", v2xum + common + ["--engine", "ray"]),
    }
    with tempfile.TemporaryDirectory() as workdir:
        work = Path(workdir)
        times = {way: run(commands[way][1] + ["--out", str(work / way)], env) for way in args.ways}
        outputs = {way: summaries(work / way) for way in args.ways}
    decoding = decode_only(videos, args.model)
    print(
        f"\n{count} {args.collection} videos, model {Path(args.model).name}, batch {args.batch_size}, whole command\n"
    )
    print("| way | wall | videos/minute |\n|---|---|---|")
    for way, seconds in times.items():
        print(f"| {commands[way][0]} | {seconds:.1f} s | {count / seconds * 60:.1f} |")
    if "a" in times:
        print(f"\ndecoding alone: {decoding:.1f} s, {decoding / times['a']:.0%} of (a)")
    if {"a", "b"} <= set(times):
        print(f"(b) / (a): {times['a'] / times['b']:.2f}x (goal >= 1.4x where decoding is >= 1/3 of the work)")
    first = args.ways[0]
    for way in args.ways[1:]:
        differ = sorted(k for k in outputs[first] if outputs[way].get(k) != outputs[first][k])
        print(f"{commands[way][0]}: {len(outputs[way])} summaries, {len(differ)} differ from {first}")


if __name__ == "__main__":
    main()
