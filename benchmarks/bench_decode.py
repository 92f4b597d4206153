"""Sampling 100 frames from a 5-minute 720p H.264 video: this package's decoder vs transformers' load_video(pyav).

Prints each time (best of --repeats), the ratios, and whether the frames are identical. Targets: exact mode at least
1.4x faster than load_video(pyav); keyframe mode at least 5x faster. torchcodec is timed too when it is usable.

    python benchmarks/bench_decode.py [--minutes 5] [--video PATH] [--gop 250]
"""

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from transformers.video_utils import load_video

from v2xum.testing import read_frame_number, write_numbered_video
from processing.video_decoding import decode_video


def best_of(repeats, fn):
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--video", help="an existing video to use instead of generating one")
    parser.add_argument("--gop", type=int, default=250)
    parser.add_argument("--num-frames", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as workdir:  # the generated video (about 8 MB) goes away afterwards
        if args.video:
            path = args.video
        else:
            frames = int(args.minutes * 60 * 30)
            start = time.perf_counter()
            path = write_numbered_video(
                Path(workdir, "bench.mp4"), frames, fps=30, width=1280, height=720, gop=args.gop
            )
            print(f"generated {frames} frames of 1280x720 H.264 (GOP {args.gop}) in {time.perf_counter() - start:.0f} s")
        run(path, args)


def run(path, args):
    """Times the three decoders on `path` and prints times, ratios and the frame checks."""
    exact_s, exact = best_of(args.repeats, lambda: decode_video(path, args.num_frames))
    fast_s, fast = best_of(args.repeats, lambda: decode_video(path, args.num_frames, mode="keyframes"))
    indices = np.array(exact.frame_indices)
    baseline_s, (baseline_frames, _) = best_of(
        args.repeats, lambda: load_video(path, backend="pyav", sample_indices_fn=lambda metadata, **kw: indices)
    )
    identical = np.array_equal(exact.frames, baseline_frames)
    correct = [read_frame_number(f) for f in exact.frames] == exact.frame_indices if not args.video else None

    print(f"v2xum decode_video exact      : {exact_s:6.2f} s  ({len(exact.frame_indices)} frames)")
    print(f"v2xum decode_video keyframes  : {fast_s:6.2f} s  ({len(fast.frame_indices)} distinct keyframes)")
    print(f"transformers load_video(pyav) : {baseline_s:6.2f} s")
    try:
        from torchcodec.decoders import VideoDecoder

        codec_s, _ = best_of(args.repeats, lambda: VideoDecoder(path, seek_mode="exact").get_frames_at(indices.tolist()))
        print(f"torchcodec get_frames_at      : {codec_s:6.2f} s")
    except Exception as error:  # optional: needs system FFmpeg libraries
        print(f"torchcodec                    : not usable here ({type(error).__name__})")
    print(f"speed-up exact vs load_video     : {baseline_s / exact_s:5.2f}x (target >= 1.4x)")
    print(f"speed-up keyframes vs load_video : {baseline_s / fast_s:5.2f}x (target >= 5x)")
    print(f"frames identical to load_video   : {identical}")
    if correct is not None:
        print(f"frame numbers read back correct  : {correct}")


if __name__ == "__main__":
    main()
