"""What the `v2xum` package itself gives, run in the package's own environment (not vLLM's), for the plugin's tests:

    python reference.py answers MODEL CASES.json OUT.json   prompt and greedy answer ids of `generate` per case
    python reference.py pixels MODEL FRAMES.npz OUT.npz     the video processor's pixel values of frame arrays
    python reference.py pipeline MODEL CASES.json OUT.json  `pipeline("video-summarization")` summaries per case
    python reference.py client URL CASES.json OUT.json      `v2xum.vllm_client.summarize_with_vllm` per case
    python reference.py boost MODEL FACTOR                  scales the output rows of the frame tokens in place (a
                                                            random model then names frames, often wrongly)

A case: {"video", "task", "num_frames", "max_tokens", "max_keyframes"?, "min_keyframes"?, "constrain"?}.
"""

import json
import sys
from pathlib import Path

import numpy as np
import torch
from transformers import AutoModelForImageTextToText, AutoProcessor, pipeline

from modeling_v2xum.generation_v2xum import KeyframeLogitsProcessor


def keyframe_rule(model, prompt_length: int, case: dict) -> KeyframeLogitsProcessor | None:
    """The package's rule for the case (`min_keyframes` given explicitly replaces the task's)."""
    if case.get("constrain") is False:
        return None
    eos = model.generation_config.eos_token_id
    rule = model.keyframe_logits_processor(prompt_length, case["task"], case.get("max_keyframes"), eos)
    if case.get("min_keyframes") is None:
        return rule
    return KeyframeLogitsProcessor(
        frame_token_start_id=rule.start,
        num_frame_tokens=rule.num_frames,
        prompt_length=prompt_length,
        allow_keyframes=rule.allow_keyframes,
        max_keyframes=rule.max_keyframes,
        video_token_id=rule.video_token_id,
        min_keyframes=case["min_keyframes"],
        eos_token_id=rule.eos_token_ids,
    )


def answers(model_dir: str, cases: list[dict]) -> list[dict]:
    model = AutoModelForImageTextToText.from_pretrained(model_dir, dtype=torch.float32).eval()
    processor = AutoProcessor.from_pretrained(model_dir)
    results = []
    for case in cases:
        inputs = processor(
            text=[processor.build_prompt(case["task"])],
            videos=[case["video"]],
            num_frames=case["num_frames"],
            return_tensors="pt",
        )
        length = inputs["input_ids"].shape[1]
        rule = keyframe_rule(model, length, case)
        generated = model.generate(
            **inputs,
            constrain_keyframes=False,
            logits_processor=[rule] if rule else None,
            do_sample=False,
            max_new_tokens=case["max_tokens"],
            output_scores=True,
            return_dict_in_generate=True,
        )
        # How clear each greedy choice was: the gap between the best and the second-best score.
        margins = [float(step[0].topk(2).values.diff().abs()) for step in generated.scores]
        answer = generated.sequences[0, length:].tolist()
        results.append({"prompt_ids": inputs["input_ids"][0].tolist(), "answer_ids": answer, "margins": margins})
    return results


def pixels(model_dir: str, frames_file: str, out_file: str) -> None:
    video_processor = AutoProcessor.from_pretrained(model_dir).video_processor
    videos = dict(np.load(frames_file))
    out = {name: video_processor(videos=[frames])["pixel_values_videos"][0].numpy() for name, frames in videos.items()}
    np.savez(out_file, **out)


def summaries(model_dir: str, cases: list[dict]) -> list[dict]:
    pipe = pipeline("video-summarization", model=model_dir, device="cpu")
    return [
        pipe(case["video"], task=case["task"], num_frames=case["num_frames"], max_keyframes=case.get("max_keyframes"))
        for case in cases
    ]


def client(url: str, cases: list[dict]) -> list[dict]:
    from v2xum.vllm_client import summarize_with_vllm

    return [
        summarize_with_vllm(
            url,
            case["video"],
            case["task"],
            server_num_frames=case["num_frames"],
            max_keyframes=case.get("max_keyframes"),
        ).to_dict()
        for case in cases
    ]


def boost(model_dir: str, factor: str) -> None:
    model = AutoModelForImageTextToText.from_pretrained(model_dir, dtype=torch.float32)
    frames = model.config.frame_token_ids
    with torch.no_grad():
        model.lm_head.weight[frames.start : frames.stop].mul_(float(factor))  # a view: changed in place
    model.save_pretrained(model_dir)


def main(command: str, *args: str) -> None:
    if command in ("pixels", "boost"):
        {"pixels": pixels, "boost": boost}[command](*args)
        return
    source, cases, out = args[0], json.loads(Path(args[1]).read_text()), Path(args[2])
    run = {"answers": answers, "pipeline": summaries, "client": client}[command]
    out.write_text(json.dumps(run(source, cases)))


if __name__ == "__main__":
    main(*sys.argv[1:])
