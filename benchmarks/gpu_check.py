"""The GPU figures, in one command and without any download: a V2Xum of the released shapes (CLIP ViT-L/14 tower,
Llama-2-7B decoder, linear projector, 100 frame tokens) with random weights, built directly on the GPU.

1. A 5-minute 1280x720 video (natural-like motion, x264, made here) to a summary through the package's pipeline,
   100 frames, in bf16: seconds (decode + generate, 256 new tokens at most) and peak GPU memory.
2. The same with the decoder in 4-bit (bitsandbytes NF4), when bitsandbytes is installed.
3. One LoRA training step of the released stage-2 recipe (r64/alpha128 on every linear layer of the LM, projector
   and lm_head trained, AdamW at 1e-4), one example of 100 frames: peak memory and samples/s (after one warm-up step).

Random weights say random things: the figures are time and memory, not quality. `--tiny` runs the same code with
tiny shapes on the CPU in a few seconds (to check the script where no GPU is). `--keep DIR` also writes the model
(`DIR/model`, a loadable V2Xum folder) and the video (`DIR/video.mp4`) for vLLM's check
(`v2xum-vllm/gpu_check.py DIR`, in vLLM's environment).

    python benchmarks/gpu_check.py [--tiny] [--skip-4bit] [--keep DIR] [--out gpu_check.json]
"""

import argparse
import importlib.util
import json
import shutil
import tempfile
import time
from pathlib import Path

import torch
from peft import get_peft_model
from transformers import pipeline

from modeling_v2xum import V2XumConfig, V2XumForConditionalGeneration
from modeling_v2xum.composition import compose_v2xum, v2xum_processor_for
from modeling_v2xum.remote_code import save_v2xum_folder
from v2xum.collator import V2XumDataCollator
from v2xum.testing import write_natural_video
from v2xum.tiny_models import write_tiny_parts
from v2xum.training import v2xum_lora_config


# The released V2Xum-LLaMA's parts: CLIP ViT-L/14 (224 px) and Llama-2-7B.
RELEASED_VISION = dict(
    hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16, image_size=224,
    patch_size=14, projection_dim=768,
)  # fmt: skip
RELEASED_TEXT = dict(
    hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=32,
    max_position_embeddings=4096, rms_norm_eps=1e-5,
)  # fmt: skip


def released_shapes(tiny: bool, device: str, dtype: torch.dtype):
    """A random-weight V2Xum of the released shapes (or tiny ones) on `device`, and its processor. The tokenizer
    and the token layout come from composing tiny parts (the same path as a real checkpoint); only the sizes of the
    tower and the decoder change, the vocabulary padded to Llama-2's 32,000 rows plus the new tokens."""
    with tempfile.TemporaryDirectory() as parts:
        vision_dir, text_dir = write_tiny_parts(parts)
        small, tokenizer = compose_v2xum(str(vision_dir), str(text_dir), num_frame_tokens=100)
    config = small.config.to_dict()
    if not tiny:
        config["vision_config"] |= RELEASED_VISION
        config["text_config"] |= RELEASED_TEXT | {"vocab_size": 32000 + len(tokenizer) - 384}
    config = V2XumConfig.from_dict(config)
    torch.manual_seed(0)  # the same random model every run: figures (and the tiny check) do not vary with the draw
    with torch.device(device):
        previous = torch.get_default_dtype()
        torch.set_default_dtype(dtype)
        try:
            model = V2XumForConditionalGeneration(config)
        finally:
            torch.set_default_dtype(previous)
    model.generation_config = small.generation_config
    model.eval()
    return model, v2xum_processor_for(config, tokenizer, num_frames=100)


def peak_memory_gb(device: str) -> float | None:
    return torch.cuda.max_memory_allocated() / 2**30 if device.startswith("cuda") else None


def summarize_video(model, processor, video: str, device: str, max_new_tokens: int) -> dict:
    """Seconds from the file to a summary (decoding included) and the peak GPU memory."""
    pipe = pipeline("video-summarization", model=model, processor=processor, device=model.device)
    pipe(video, task="both", max_new_tokens=8)  # warm-up: kernels, allocator
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    summary = pipe(video, task="both", max_new_tokens=max_new_tokens)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return {
        "seconds": round(time.perf_counter() - start, 2),
        "peak_gpu_gb": peak_memory_gb(device),
        "keyframes": len(summary["keyframes"]),
        "answer_chars": len(summary["raw_text"]),
    }


def lora_step(model, processor, video: str, device: str) -> dict:
    """One optimizer step of the released stage-2 recipe on one example of 100 frames."""
    model.train()
    model = get_peft_model(model, v2xum_lora_config(model.config, r=64, lora_alpha=128))
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    example = {
        "video": video,
        "task": "both",
        "duration": 300.0,
        "sentences": [{"text": "A person walks into the room.", "seconds": [12.0, 40.0]}],
    }
    batch = V2XumDataCollator(processor)([example]).to(model.device)
    batch["pixel_values_videos"] = batch["pixel_values_videos"].to(model.dtype)
    timings = []
    for _ in range(2):  # the first step warms up
        if device.startswith("cuda"):
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        timings.append(time.perf_counter() - start)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {
        "samples_per_s": round(1 / timings[-1], 3),
        "peak_gpu_gb": peak_memory_gb(device),
        "loss": round(loss.item(), 3),
        "trainable_params": trainable,
    }


def four_bit(model, processor, video: str, device: str, max_new_tokens: int) -> dict:
    """The decoder's linear layers in NF4 (the tower, projector and head in bf16), as `--load-in-4bit` loads it."""
    if importlib.util.find_spec("bitsandbytes") is None:
        return {"skipped": "bitsandbytes is not installed"}
    if not device.startswith("cuda"):
        return {"skipped": "4-bit needs a GPU"}
    from transformers import BitsAndBytesConfig

    with tempfile.TemporaryDirectory() as folder:
        model.save_pretrained(folder)
        processor.save_pretrained(folder)
        del model
        torch.cuda.empty_cache()
        quantized = V2XumForConditionalGeneration.from_pretrained(
            folder,
            dtype=torch.bfloat16,
            device_map=device,
            quantization_config=BitsAndBytesConfig(
                load_in_4bit=True,
                bnb_4bit_compute_dtype=torch.bfloat16,
                llm_int8_skip_modules=["vision_tower", "multi_modal_projector", "lm_head"],
            ),
        )
    return summarize_video(quantized, processor, video, device, max_new_tokens)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="tiny shapes on the CPU: checks the script")
    parser.add_argument("--skip-4bit", action="store_true")
    parser.add_argument("--max-new-tokens", type=int, default=256)
    parser.add_argument("--video-seconds", type=float, default=300.0)
    parser.add_argument("--keep", help="also write the model (DIR/model) and the video (DIR/video.mp4) here")
    parser.add_argument("--out", default="gpu_check.json")
    args = parser.parse_args()
    device = "cpu" if args.tiny else "cuda"
    if device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("no CUDA device here: run with --tiny to check the script on the CPU")
    dtype = torch.float32 if args.tiny else torch.bfloat16
    results = {"device": torch.cuda.get_device_name() if device == "cuda" else "cpu", "tiny": args.tiny}

    with tempfile.TemporaryDirectory() as work:
        video = str(Path(work) / "video.mp4")
        start = time.perf_counter()
        seconds = 10.0 if args.tiny else args.video_seconds
        write_natural_video(video, seconds, width=320 if args.tiny else 1280, height=180 if args.tiny else 720)
        results["video"] = {"seconds": seconds, "made_in_s": round(time.perf_counter() - start, 1)}
        start = time.perf_counter()
        model, processor = released_shapes(args.tiny, device, dtype)
        results["parameters"] = sum(p.numel() for p in model.parameters())
        results["built_in_s"] = round(time.perf_counter() - start, 1)
        if args.keep:
            save_v2xum_folder(Path(args.keep) / "model", model, processor)
            shutil.copyfile(video, Path(args.keep) / "video.mp4")
        results["bf16_summary"] = summarize_video(model, processor, video, device, args.max_new_tokens)
        print(json.dumps(results, indent=2), flush=True)
        results["lora_step"] = lora_step(model, processor, video, device)
        print(json.dumps(results["lora_step"], indent=2), flush=True)
        del model
        if not args.skip_4bit:
            fresh, processor = released_shapes(args.tiny, device, dtype)
            results["4bit_summary"] = four_bit(fresh, processor, video, device, args.max_new_tokens)
    Path(args.out).write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
