"""Serving throughput: `v2xum serve` (Ray Serve, 1 and 2 replicas) against the plain pipeline with batching, in one
run, on the same StoryBoard videos with the StoryBoard demo model.

40 generated StoryBoard videos; the pipeline summarizes them in batches of `--batch-size` in this process (its
videos/s is the baseline); each server configuration gets the same 40 as requests from `--clients` concurrent
clients (JSON bodies naming the files, `--allow-local-media`), after one warm-up request. Prints videos/s, p50 and
p95 request latency, the ratio to the pipeline, and how many answers equal the pipeline's.

    python benchmarks/bench_serving.py [--videos 40] [--clients 8] [--replicas 1 2]
"""

import argparse
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import requests
from transformers import pipeline

from processing import VideoSummary
from v2xum.resources import demo_model_dir
from v2xum.serve import ServerOptions, deployment, start, stop
from v2xum.storyboard import make_video_example


def make_videos(folder: Path, count: int) -> list[str]:
    paths = []
    for seed in range(count):
        path = folder / f"story_{seed:03d}.mp4"
        if not path.is_file():
            make_video_example(str(path), np.random.default_rng(1000 + seed), path.stem)
        paths.append(str(path))
    return paths


def pipeline_run(paths: list[str], batch_size: int) -> tuple[float, list[dict]]:
    pipe = pipeline("video-summarization", model=str(demo_model_dir()), device="cpu")
    pipe(paths[0], task="both")  # warm-up
    start_time = time.perf_counter()
    outputs = pipe(paths, batch_size=batch_size, task="both")
    wall = time.perf_counter() - start_time
    return wall, [VideoSummary.from_dict(o).to_dict() for o in outputs]


def served_run(url: str, paths: list[str], clients: int) -> tuple[float, list[float], list[dict | None]]:
    def ask(path: str) -> tuple[float, dict | None]:
        begun = time.perf_counter()
        answer = requests.post(f"{url}/v1/summarize", json={"video": path, "task": "both"}, timeout=600)
        return time.perf_counter() - begun, answer.json() if answer.status_code == 200 else None

    ask(paths[0])  # warm-up
    start_time = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(ask, paths))
    wall = time.perf_counter() - start_time
    return wall, [r[0] for r in results], [r[1] for r in results]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=40)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--cache-dir", default=Path(tempfile.gettempdir()) / "v2xum-bench-serving")
    args = parser.parse_args()
    folder = Path(args.cache_dir)
    folder.mkdir(parents=True, exist_ok=True)
    paths = make_videos(folder, args.videos)

    base_wall, expected = pipeline_run(paths, args.batch_size)
    base_rate = len(paths) / base_wall
    rows = [(f"pipeline, batches of {args.batch_size}", base_rate, None, None, len(paths))]
    options = ServerOptions(
        model=str(demo_model_dir()),
        port=args.port,
        device="cpu",
        allow_local_media=str(folder),
        max_batch_size=args.batch_size,
        max_ongoing_requests=max(args.batch_size, args.clients),
    )
    url = None
    try:
        for replicas in args.replicas:
            options.replicas = replicas
            if url is None:
                url = start(options)
            else:
                from ray import serve

                serve.run(deployment(options), name="v2xum", route_prefix="/")
            wall, latencies, answers = served_run(url, paths, args.clients)
            equal = sum(a == e for a, e in zip(answers, expected))
            p50, p95 = statistics.median(latencies), statistics.quantiles(latencies, n=20)[18]
            rows.append((f"v2xum serve, {replicas} replica(s)", len(paths) / wall, p50, p95, equal))
    finally:
        if url is not None:
            stop()

    print(f"\n{len(paths)} StoryBoard videos, {args.clients} concurrent clients, the demo model, CPU")
    print("| system | videos/s | vs pipeline | p50 latency | p95 latency | answers equal to the pipeline's |")
    print("|---|---|---|---|---|---|")
    for name, rate, p50, p95, equal in rows:
        latency = f"{p50:.2f} s | {p95:.2f} s" if p50 is not None else "- | -"
        print(f"| {name} | {rate:.2f} | {rate / base_rate:.2f}x | {latency} | {equal}/{len(paths)} |")


if __name__ == "__main__":
    main()
