"""Summarize a video with the `video-summarization` pipeline, from Python.

    python examples/summarize_with_pipeline.py [VIDEO] [--model CHECKPOINT]

Without arguments it generates a StoryBoard sample video and uses the StoryBoard demo model shipped with the package.
"""

import argparse
import json
import tempfile

import numpy as np
from transformers import pipeline

import modeling_v2xum  # noqa: F401  (registers the "video-summarization" task)
from v2xum.resources import demo_model_dir
from v2xum.storyboard import make_video_example


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", nargs="?", help="a video file (default: a generated StoryBoard sample)")
    parser.add_argument("--model", default=str(demo_model_dir()), help="a V2Xum checkpoint: folder or Hub id")
    parser.add_argument("--task", choices=["video", "text", "both"], default="both")
    args = parser.parse_args()
    video = args.video
    if video is None:
        video = f"{tempfile.mkdtemp()}/sample.mp4"
        make_video_example(video, np.random.default_rng(7), "sample")
    summarize = pipeline("video-summarization", model=args.model)
    summary = summarize(video, task=args.task)
    for sentence in summary["sentences"]:
        times = [k["seconds"] for k in summary["keyframes"] if k["index"] in sentence["keyframes"]]
        print(", ".join(f"{t:.1f} s" for t in times).rjust(12), sentence["text"])
    print(json.dumps(summary["keyframes"], indent=1))


if __name__ == "__main__":
    main()
