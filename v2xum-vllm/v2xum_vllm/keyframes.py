"""The keyframe rule as a vLLM v1 logits processor: generated `[fNN]` name frames of the request's own prompt, in
strictly increasing order, at most `max_keyframes` of them, none for the TEXT task; VIDEO and BOTH answers cannot end
before naming `min_keyframes` (default 1). It is the package's `KeyframeLogitsProcessor`, applied row by row.

Per request, through `SamplingParams.extra_args` (the OpenAI server: `vllm_xargs`):
    v2xum_task: "video" | "text" | "both" (default: read from the prompt's instruction, else no task rule)
    max_keyframes, min_keyframes: ints
    constrain_keyframes: false turns the rule off
"""

import torch
from transformers import AutoTokenizer
from vllm import SamplingParams
from vllm.v1.sample.logits_processor import BatchUpdate, LogitsProcessor, MoveDirectionality

from .checkpoint_code.generation_v2xum import KeyframeLogitsProcessor
from .checkpoint_code.processing_v2xum import TASK_INSTRUCTIONS


TASK_ARG, MAX_ARG, MIN_ARG, SWITCH_ARG = "v2xum_task", "max_keyframes", "min_keyframes", "constrain_keyframes"


def _contains(sequence: list[int], part: list[int]) -> bool:
    return any(sequence[i : i + len(part)] == part for i in range(len(sequence) - len(part) + 1)) if part else False


def check_arguments(extra: dict) -> None:
    """Clear errors for the rule's per-request arguments (a bad value is a 400 on the server)."""
    if extra.get(TASK_ARG) not in (None, *TASK_INSTRUCTIONS):
        raise ValueError(f"{TASK_ARG} must be one of {', '.join(TASK_INSTRUCTIONS)}, got {extra[TASK_ARG]!r}")
    for name in (MAX_ARG, MIN_ARG):
        value = extra.get(name)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
            raise ValueError(f"{name} must be a whole number >= 0, got {value!r}")


class KeyframeRule(LogitsProcessor):
    """Active only for V2Xum models with `special` temporal prompts (frame tokens are one id range)."""

    def __init__(self, vllm_config, device: torch.device, is_pin_memory: bool):
        config = vllm_config.model_config.hf_config
        self.active = getattr(config, "model_type", None) == "v2xum" and config.temporal_prompt_style == "special"
        self.rows: dict[int, tuple[KeyframeLogitsProcessor, list[int], list[int]]] = {}
        if not self.active:
            return
        self.config = config
        tokenizer = AutoTokenizer.from_pretrained(vllm_config.model_config.tokenizer)
        self.eos_token_id = vllm_config.model_config.hf_text_config.eos_token_id or tokenizer.eos_token_id
        self.instructions = {
            task: tokenizer(text, add_special_tokens=False)["input_ids"] for task, text in TASK_INSTRUCTIONS.items()
        }

    @classmethod
    def validate_params(cls, sampling_params: SamplingParams):
        check_arguments(sampling_params.extra_args or {})

    def is_argmax_invariant(self) -> bool:
        return False

    def task_of_prompt(self, prompt: list[int]) -> str | None:
        """The task whose released instruction the prompt contains."""
        return next((task for task, ids in self.instructions.items() if _contains(prompt, ids)), None)

    def rule_for(self, params: SamplingParams, prompt: list[int]) -> KeyframeLogitsProcessor | None:
        extra = params.extra_args or {}
        if extra.get(SWITCH_ARG) is False:
            return None
        task = extra.get(TASK_ARG) or self.task_of_prompt(prompt)
        minimum = extra.get(MIN_ARG, 1 if task in ("video", "both") else 0)
        return KeyframeLogitsProcessor(
            frame_token_start_id=self.config.frame_token_start_id,
            num_frame_tokens=self.config.num_frame_tokens,
            prompt_length=len(prompt),
            allow_keyframes=task != "text",
            max_keyframes=extra.get(MAX_ARG),
            video_token_id=self.config.video_token_id,
            min_keyframes=minimum,
            eos_token_id=self.eos_token_id,
        )

    def update_state(self, batch_update: BatchUpdate | None) -> None:
        if not self.active or batch_update is None:
            return
        for index in batch_update.removed:
            self.rows.pop(index, None)
        for index, params, prompt, output in batch_update.added:
            rule = self.rule_for(params, list(prompt or []))
            if rule is None:
                self.rows.pop(index, None)
            else:
                self.rows[index] = (rule, list(prompt or []), output)
        for source, target, directionality in batch_update.moved:
            moving = self.rows.pop(source, None)
            if directionality == MoveDirectionality.SWAP:
                if (other := self.rows.pop(target, None)) is not None:
                    self.rows[source] = other
            if moving is not None:
                self.rows[target] = moving

    def apply(self, logits: torch.Tensor) -> torch.Tensor:
        for index, (rule, prompt, output) in self.rows.items():
            ids = torch.tensor([prompt + list(output)], dtype=torch.long)
            logits[index : index + 1] = rule(ids, logits[index : index + 1].float()).to(logits.dtype)
        return logits


__all__ = ["KeyframeRule", "check_arguments"]
