"""Serving throughput: `v2xum serve` (Ray Serve, 1 and 2 replicas) and vLLM with the `v2xum-vllm` plugin against
the plain pipeline with batching, in one run, on the same StoryBoard videos with the StoryBoard demo model.

40 generated StoryBoard videos; the pipeline summarizes them in batches of `--batch-size` in this process (its
videos/s is the baseline); each server gets the same 40 as requests from `--clients` concurrent clients (`v2xum
serve`: JSON bodies naming the files, `--allow-local-media`; vLLM: OpenAI chat requests with `file://` video parts,
parsed by `v2xum.vllm_client`), after one warm-up request; vLLM also runs them offline (one `LLM.generate`).
Prints videos/s, p50 and p95 request latency, the ratio to the pipeline, and how many answers equal the pipeline's
(keyframes and sentences).

    python benchmarks/bench_serving.py [--videos 40] [--clients 8] [--replicas 1 2] [--vllm-python PY]

`--vllm-python`: the Python of an environment with vLLM and the plugin (see v2xum-vllm/README.md); its OpenAI server
runs the demo model in float32, as the pipeline does.
"""

import argparse
import json
import os
import statistics
import subprocess
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
from v2xum.vllm_client import DEFAULT_NUM_FRAMES, summarize_with_vllm, summary_of_answer


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


def ask_v2xum_serve(url: str, path: str) -> dict | None:
    answer = requests.post(f"{url}/v1/summarize", json={"video": path, "task": "both"}, timeout=600)
    return answer.json() if answer.status_code == 200 else None


def ask_vllm(url: str, path: str) -> dict:
    return summarize_with_vllm(url, path, "both").to_dict()


def served_run(url: str, paths: list[str], clients: int, ask_server=ask_v2xum_serve):
    """Wall time, per-request latencies and answers of `paths` sent by `clients` concurrent clients."""

    def ask(path: str) -> tuple[float, dict | None]:
        begun = time.perf_counter()
        answer = ask_server(url, path)
        return time.perf_counter() - begun, answer

    ask(paths[0])  # warm-up
    start_time = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(ask, paths))
    wall = time.perf_counter() - start_time
    return wall, [r[0] for r in results], [r[1] for r in results]


def summary_content(answer: dict | None) -> tuple | None:
    """What a user reads: keyframes (index, seconds) and sentences (the raw text's spacing aside)."""
    if answer is None:
        return None
    return (
        [(k["frame_index"], k["seconds"]) for k in answer["keyframes"]],
        [s["text"] for s in answer["sentences"]],
    )


def equal_count(answers: list[dict | None], expected: list[dict]) -> int:
    return sum(summary_content(a) == summary_content(e) for a, e in zip(answers, expected))


def served_row(name: str, wall: float, latencies: list[float], answers: list, expected: list[dict]) -> tuple:
    """A table row for a server: videos/s, p50 and p95 latency, answers equal to the pipeline's."""
    p50, p95 = statistics.median(latencies), statistics.quantiles(latencies, n=20)[18]
    return name, len(answers) / wall, p50, p95, equal_count(answers, expected)


def start_vllm(python: str, folder: Path, port: int) -> subprocess.Popen:
    command = [
        python, "-m", "vllm.entrypoints.openai.api_server", "--model", str(demo_model_dir()),
        "--host", "127.0.0.1", "--port", str(port), "--allowed-local-media-path", str(folder),
        "--dtype", "float32", "--max-model-len", "1024",
    ]  # fmt: skip
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "2"}
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if requests.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200:
                return process
        except requests.RequestException:
            time.sleep(2)
    process.kill()
    raise RuntimeError(f"the vLLM server did not start (exit code {process.poll()})")


def vllm_offline_row(python: str, paths: list[str], expected: list[dict]):
    """vLLM without HTTP (`v2xum-vllm/bench_offline.py`: decode, then one `LLM.generate` for all videos)."""
    script = Path(__file__).resolve().parents[1] / "v2xum-vllm" / "bench_offline.py"
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "2"}
    with tempfile.TemporaryDirectory() as work:
        out = Path(work) / "offline.json"
        command = [python, str(script), str(demo_model_dir()), *paths, "--out", str(out)]
        subprocess.run(command, capture_output=True, env=env, check=True)
        result = json.loads(out.read_text())
    answers = [
        summary_of_answer(text, path, "both", DEFAULT_NUM_FRAMES).to_dict()
        for text, path in zip(result["answers"], paths)
    ]
    return "vLLM offline (LLM.generate, no HTTP)", result["videos_per_s"], None, None, equal_count(answers, expected)


def vllm_row(python: str, folder: Path, paths: list[str], clients: int, port: int, expected: list[dict]):
    process = start_vllm(python, folder, port)
    try:
        wall, latencies, answers = served_run(f"http://127.0.0.1:{port}", paths, clients, ask_vllm)
    finally:
        process.terminate()
        process.wait(timeout=60)
    return served_row("vLLM + v2xum-vllm plugin", wall, latencies, answers, expected)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=40)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--cache-dir", default=Path(tempfile.gettempdir()) / "v2xum-bench-serving")
    parser.add_argument("--vllm-python", help="Python of an environment with vLLM and the v2xum-vllm plugin")
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
            rows.append(served_row(f"v2xum serve, {replicas} replica(s)", wall, latencies, answers, expected))
    finally:
        if url is not None:
            stop()
    if args.vllm_python:
        rows.append(vllm_row(args.vllm_python, folder, paths, args.clients, args.port + 1, expected))
        rows.append(vllm_offline_row(args.vllm_python, paths, expected))

    print(f"\n{len(paths)} StoryBoard videos, {args.clients} concurrent clients, the demo model, CPU")
    print("| system | videos/s | vs pipeline | p50 latency | p95 latency | answers equal to the pipeline's |")
    print("|---|---|---|---|---|---|")
    for name, rate, p50, p95, equal in rows:
        latency = f"{p50:.2f} s | {p95:.2f} s" if p50 is not None else "- | -"
        print(f"| {name} | {rate:.2f} | {rate / base_rate:.2f}x | {latency} | {equal}/{len(paths)} |")


if __name__ == "__main__":
    main()
