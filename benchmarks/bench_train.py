"""Training throughput: decoding videos in the collator (pixels) vs cached vision-tower features.

    python benchmarks/bench_train.py [--videos 16] [--frames 16] [--steps 12]

Builds a tiny checkpoint and generated 320x240 videos in a temporary folder, caches their features with
`v2xum cache-features`, runs the same LoRA training both ways in this process and prints samples/s and the ratio.
"""

import argparse
import json
import os
import tempfile
import time


os.environ.setdefault("HF_HUB_OFFLINE", "1")

import train_sft  # noqa: E402
from v2xum.cli import main as v2xum  # noqa: E402
from v2xum.testing import write_numbered_video  # noqa: E402


def run(common: list[str], output_dir: str, extra: list[str] = ()) -> float:
    start = time.perf_counter()
    trainer = train_sft.run([*common, "--output_dir", output_dir, *extra])
    elapsed = time.perf_counter() - start
    return trainer.state.global_step * trainer.args.per_device_train_batch_size / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=16)
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--steps", type=int, default=12)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root:
        rows = []
        for i in range(args.videos):
            write_numbered_video(f"{root}/v{i}.mp4", 300, fps=30, width=320, height=240, gop=30, noise=True)
            rows.append(
                {
                    "video": f"v{i}.mp4",
                    "task": "both",
                    "sentences": [
                        {"text": "A square appears.", "seconds": [2.0, 4.0]},
                        {"text": "It moves.", "seconds": [8.0]},
                    ],
                }
            )
        with open(f"{root}/train.jsonl", "w") as f:
            f.write("\n".join(json.dumps(r) for r in rows))
        v2xum(["init-tiny", f"{root}/model", "--num-frames", str(args.frames)])
        start = time.perf_counter()
        v2xum(
            [
                "cache-features",
                "--model",
                f"{root}/model",
                "--data",
                f"{root}/train.jsonl",
                "--out",
                f"{root}/cache",
                "--num-frames",
                str(args.frames),
            ]
        )
        cache_seconds = time.perf_counter() - start
        common = [
            "--model_name_or_path",
            f"{root}/model",
            "--train_file",
            f"{root}/train.jsonl",
            "--num_frames",
            str(args.frames),
            "--use_peft",
            "--lora_r",
            "8",
            "--per_device_train_batch_size",
            "4",
            "--max_steps",
            str(args.steps),
            "--bf16",
            "false",
            "--activation_checkpointing",
            "false",
            "--report_to",
            "none",
            "--save_strategy",
            "no",
            "--logging_steps",
            "100",
            "--dataloader_num_workers",
            "0",
        ]
        pixels = run(common, f"{root}/out_pixels")
        cached = run(common, f"{root}/out_cached", ["--feature_cache", f"{root}/cache"])
    print(f"\n{args.videos} videos (10 s, 320x240 H.264), {args.frames} frames each, tiny model, CPU")
    print(f"building the cache: {cache_seconds:.1f} s")
    print(f"pixels (decode + tower in the collator/model): {pixels:.1f} samples/s")
    print(f"cached tower features:                         {cached:.1f} samples/s")
    print(f"ratio cached / pixels: {cached / pixels:.2f}x")


if __name__ == "__main__":
    main()
