"""Windowed summaries of long StoryBoard videos with the shipped demo model: are the events of every story found?

Generates --videos long videos of --stories chained StoryBoard stories each (ground truth in real seconds), summarizes
each with `pipeline("video-summarization", window_seconds=...)` (windows about the length of the videos the demo
was trained on), and scores event keyframe F1 (a keyframe counts inside an event scene, once per scene) against a
uniform baseline given the same number of keyframes per video (evenly spaced over the video). Prints a table.

    python benchmarks/eval_long_storyboard.py [--videos 20] [--stories 10] [--window-seconds 12] [--seed 1234]
"""

import argparse
import os
import tempfile
import time

import numpy as np
from transformers import pipeline

from evaluate_metrics.scoring import event_keyframe_f1
from v2xum.resources import demo_model_dir
from v2xum.storyboard import make_storyboard


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=20)
    parser.add_argument("--stories", type=int, default=10)
    parser.add_argument("--window-seconds", type=float, default=12.0)
    parser.add_argument("--seed", type=int, default=1234, help="a seed the demo model was not trained on")
    parser.add_argument("--batch-size", type=int, default=4)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as workdir:
        start = time.perf_counter()
        # Every video goes to the "test" split's share too, but all are scored here: the split does not matter.
        splits = make_storyboard(workdir, n_videos=args.videos, seed=args.seed, stories=args.stories)
        examples = [e for examples in splits.values() for e in examples]
        print(
            f"generated {len(examples)} videos of {args.stories} stories "
            f"(mean {np.mean([e['duration'] for e in examples]):.0f} s) in {time.perf_counter() - start:.0f} s"
        )
        summarize = pipeline("video-summarization", model=str(demo_model_dir()))
        scores = {"model": [], "uniform": []}
        counts, events_found, start = [], [], time.perf_counter()
        for example in examples:
            events = [(s["start"], s["end"]) for s in example["scenes"] if s["kind"] == "event"]
            summary = summarize(
                os.path.join(workdir, example["video"]),
                task="both",
                max_new_tokens=64,
                window_seconds=args.window_seconds,
                batch_size=args.batch_size,
            )
            seconds = [k["seconds"] for k in summary["keyframes"]]
            scores["model"].append(event_keyframe_f1(seconds, events)["f1"])
            k = max(len(seconds), 1)
            uniform = [(i + 0.5) * example["duration"] / k for i in range(k)]
            scores["uniform"].append(event_keyframe_f1(uniform, events)["f1"])
            counts.append((len(seconds), len(events)))
            events_found.append(sum(any(a <= t < b for t in seconds) for a, b in events) / len(events))
        elapsed = time.perf_counter() - start

    print(f"summarized in {elapsed:.0f} s ({elapsed / len(examples):.1f} s per video)")
    print(
        f"keyframes per video {np.mean([c[0] for c in counts]):.1f}, events per video "
        f"{np.mean([c[1] for c in counts]):.1f}, share of events found {np.mean(events_found):.3f}"
    )
    print("\n| system | event keyframe F1 (mean over videos) |\n|---|---|")
    for system, values in scores.items():
        print(f"| {system} | {np.mean(values):.3f} |")


if __name__ == "__main__":
    main()
