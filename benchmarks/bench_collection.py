"""Summarizing a collection of 40 StoryBoard videos with the shipped demo model, four ways, on this machine:

  (a) one process, decoding then generating in turn (--prefetch 0),
  (b) one process, decoding overlapped with generation (--prefetch 2, the default),
  (c) two processes (torchrun on the CPU; `accelerate launch` on GPUs), sharing the collection,
  (d) Ray Data on a local Ray instance (CPU decoding stage, one model actor).

Prints videos/minute for each (wall time of the whole command, model loading included) and checks that all four
wrote the same summaries. Goal: (b) >= 1.4x (a).

    python benchmarks/bench_collection.py [--videos 40] [--batch-size 4]
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


def run(command: list[str], env: dict) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def summaries(out: Path) -> dict:
    return {
        p.parent.name: (
            json.loads(p.read_text())["text"],
            [k["frame_index"] for k in json.loads(p.read_text())["keyframes"]],
        )
        for p in out.glob("*/summary.json")
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=4)
    args = parser.parse_args()
    bin_dir = os.path.dirname(sys.executable)
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    with tempfile.TemporaryDirectory() as workdir:
        work = Path(workdir)
        make_storyboard(work / "sb", n_videos=args.videos, seed=4321)
        videos = str(work / "sb" / "videos")
        common = [
            "summarize",
            videos,
            "--model",
            str(demo_model_dir()),
            "--max-new-tokens",
            "64",
            "--device",
            "cpu",
            "--batch-size",
            str(args.batch_size),
        ]
        v2xum = [os.path.join(bin_dir, "v2xum")]
        ways = {
            "(a) one process, no overlap": v2xum + common + ["--out", str(work / "a"), "--prefetch", "0"],
            "(b) one process, overlapped": v2xum + common + ["--out", str(work / "b"), "--prefetch", "2"],
            "(c) two processes": [
                os.path.join(bin_dir, "torchrun"),
                "--nproc_per_node",
                "2",
                "--master_port",
                "29533",
                "-m",
                "v2xum.cli",
            ]
            + common
            + ["--out", str(work / "c")],
            "(d) Ray Data, local": v2xum + common + ["--out", str(work / "d"), "--engine", "ray"],
        }
        times = {name: run(command, env) for name, command in ways.items()}
        outputs = [summaries(work / key) for key in "abcd"]
    print(f"\n{args.videos} StoryBoard videos, demo model, batch {args.batch_size}, whole command timed\n")
    print("| way | wall | videos/minute |\n|---|---|---|")
    for name, seconds in times.items():
        print(f"| {name} | {seconds:.1f} s | {args.videos / seconds * 60:.0f} |")
    names = list(times)
    print(f"\n(b) / (a): {times[names[0]] / times[names[1]]:.2f}x (goal >= 1.4x)")
    for name, output in zip(names[1:], outputs[1:]):
        differ = sorted(k for k in outputs[0] if output.get(k) != outputs[0][k])
        print(f"{name}: {len(output)} summaries, {len(differ)} differ from (a) {differ[:3]}")
        for key in differ[:2]:
            print(f"   (a) {outputs[0][key]}\n   {name[:3]} {output.get(key)}")


if __name__ == "__main__":
    main()
