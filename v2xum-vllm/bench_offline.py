"""vLLM's offline throughput on V2Xum (no HTTP): the videos decoded as the package decodes them, then one
`LLM.generate` call for all of them, greedy, BOTH. Writes JSON (`--out`): videos/s, the decoding time, the answers.

    vllm-env/bin/python v2xum-vllm/bench_offline.py MODEL VIDEO... [--dtype float32] [--out offline.json]
"""

import argparse
import json
import time

from transformers import AutoProcessor
from vllm import LLM, SamplingParams

from v2xum_vllm import register


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("videos", nargs="+")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--out", default="offline.json")
    args = parser.parse_args()
    register()
    processor = AutoProcessor.from_pretrained(args.model)
    llm = LLM(model=args.model, dtype=args.dtype, seed=0)
    params = SamplingParams(temperature=0, max_tokens=args.max_tokens, skip_special_tokens=False)
    llm.generate([processor.video_request(args.videos[0])], params, use_tqdm=False)  # warm-up
    start = time.perf_counter()
    requests = [processor.video_request(video) for video in args.videos]
    decoding = time.perf_counter() - start
    outputs = llm.generate(requests, params, use_tqdm=False)
    wall = time.perf_counter() - start
    answers = [output.outputs[0].text for output in outputs]
    result = {"videos_per_s": len(args.videos) / wall, "decoding_s": decoding, "wall_s": wall, "answers": answers}
    with open(args.out, "w") as f:
        json.dump(result, f)
    print(f"{len(args.videos)} videos in {wall:.2f} s ({result['videos_per_s']:.2f}/s), decoding {decoding:.2f} s")


if __name__ == "__main__":
    main()
