"""vLLM's figures for V2Xum on a GPU, in vLLM's environment and without any download:

1. throughput: `--requests` summaries (BOTH, 100 frames, up to `--max-tokens` new tokens) of one video through
   `LLM.generate`, videos/s, and the first request's latency alone;
2. bf16 parity: for the first request, the log-probabilities vLLM gives its greedy tokens against those of the
   package's own model (the checkpoint's remote code, run here in the same dtype) fed the same prompt, pixels and
   tokens: the largest and mean absolute difference, and how often the package's argmax is vLLM's token.

The folder comes from the package's GPU check (`python benchmarks/gpu_check.py --keep DIR`: a V2Xum of the
released shapes with random weights, and a 5-minute 720p video):

    vllm-env/bin/python v2xum-vllm/gpu_check.py DIR [--requests 16] [--out vllm_gpu_check.json]
    vllm-env/bin/python v2xum-vllm/gpu_check.py --model v2xum/storyboard_demo --video clip.mp4 --cpu  # the script
"""

import argparse
import json
import time
from pathlib import Path

import torch
from transformers import AutoProcessor
from vllm import LLM, SamplingParams

from v2xum_vllm import register
from v2xum_vllm.checkpoint_code.modeling_v2xum import V2XumForConditionalGeneration


def throughput(llm: LLM, request: dict, count: int, max_tokens: int) -> dict:
    params = SamplingParams(temperature=0, max_tokens=max_tokens, skip_special_tokens=False)
    start = time.perf_counter()
    llm.generate([request], params, use_tqdm=False)
    alone = time.perf_counter() - start
    start = time.perf_counter()
    outputs = llm.generate([request] * count, params, use_tqdm=False)
    wall = time.perf_counter() - start
    tokens = sum(len(o.outputs[0].token_ids) for o in outputs)
    return {
        "requests": count,
        "videos_per_s": round(count / wall, 3),
        "tokens_per_s": round(tokens / wall, 1),
        "one_request_s": round(alone, 3),
    }


def parity(llm: LLM, processor, request: dict, model_dir: str, dtype: torch.dtype, device: str, max_tokens: int):
    """vLLM's greedy tokens and their log-probabilities, against the package's model on the same inputs."""
    params = SamplingParams(temperature=0, max_tokens=max_tokens, skip_special_tokens=False, logprobs=0)
    output = llm.generate([request], params, use_tqdm=False)[0]
    prompt, answer = list(output.prompt_token_ids), list(output.outputs[0].token_ids)
    served = torch.tensor([step[token].logprob for step, token in zip(output.outputs[0].logprobs, answer)])
    model = V2XumForConditionalGeneration.from_pretrained(model_dir, dtype=dtype).to(device).eval()
    frames = request["multi_modal_data"]["video"][0]
    pixels = processor(videos=[frames])["pixel_values_videos"][0][None].to(device, dtype)
    ids = torch.tensor([prompt + answer], device=device)
    with torch.no_grad():
        logits = model(input_ids=ids, pixel_values_videos=pixels).logits[0, len(prompt) - 1 : -1].float()
    reference = torch.log_softmax(logits, dim=-1)
    theirs = reference.gather(1, torch.tensor(answer, device=device)[:, None])[:, 0].cpu()
    difference = (served - theirs).abs()
    agree = (reference.argmax(dim=-1).cpu() == torch.tensor(answer)).float().mean()
    return {
        "tokens": len(answer),
        "max_abs_logprob_diff": round(float(difference.max()), 5),
        "mean_abs_logprob_diff": round(float(difference.mean()), 5),
        "argmax_agreement": round(float(agree), 4),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", nargs="?", help="what `benchmarks/gpu_check.py --keep` wrote")
    parser.add_argument("--model", help="a V2Xum folder (default: FOLDER/model)")
    parser.add_argument("--video", help="a video file (default: FOLDER/video.mp4)")
    parser.add_argument("--requests", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--cpu", action="store_true", help="float32 on the CPU (checks the script where no GPU is)")
    parser.add_argument("--out", default="vllm_gpu_check.json")
    args = parser.parse_args()
    model_dir = args.model or str(Path(args.folder) / "model")
    video = args.video or str(Path(args.folder) / "video.mp4")
    device, dtype = ("cpu", torch.float32) if args.cpu else ("cuda", torch.bfloat16)
    register()
    processor = AutoProcessor.from_pretrained(model_dir)
    llm = LLM(model=model_dir, dtype=dtype, enforce_eager=args.cpu, seed=0)  # the model's own context length
    request = processor.video_request(video, "both")
    results = {"device": torch.cuda.get_device_name() if device == "cuda" else "cpu", "dtype": str(dtype)}
    results["throughput"] = throughput(llm, request, args.requests, args.max_tokens)
    results["parity"] = parity(llm, processor, request, model_dir, dtype, device, args.max_tokens)
    Path(args.out).write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
