# Copyright 2026 The V2Xum Authors. Licensed under the Apache License, Version 2.0.
"""The training collator: training examples in, a model batch with answer-only labels out."""

from dataclasses import dataclass

import torch
from transformers import BatchFeature

from processing import DecodedVideo, SampledFrames, V2XumProcessor
from processing.video_processing_v2xum import pad_videos

from .alignment_data import decode_alignment_clip
from .feature_cache import VideoFeatureCache
from .training_data import render_target


@dataclass
class V2XumDataCollator:
    """Turns training examples (`v2xum.training_data`) into a right-padded batch for `SFTTrainer`.

    Videos are decoded here, lazily (never at dataset load), by the processor from their paths; the target is
    rendered from the sampled frames' timeline; labels are -100 except on the answer and EOS. The answer is
    tokenized on its own after the prompt, exactly as `generate` continues a prompt, so what the model learns is
    what it will be asked to produce. Nothing is truncated: an example longer than `max_length` raises a
    `ValueError` naming its length and the limit.

    With `feature_cache`, frames are not decoded: the cached vision-tower features and timelines are used, and the
    batch holds `video_tower_features` instead of `pixel_values_videos` (the token ids are the same).
    """

    processor: V2XumProcessor
    num_frames: int | None = None
    max_length: int | None = None
    decode_mode: str = "exact"
    feature_cache: VideoFeatureCache | None = None

    def __call__(self, examples: list[dict]) -> BatchFeature:
        prompts = self.prompts(examples)
        if self.feature_cache is not None:
            prompt_ids, video_inputs, timelines = self._cached_inputs(examples, prompts)
        else:
            prompt_ids, video_inputs, timelines = self._decoded_inputs(examples, prompts)
        answers = self.answers(examples, timelines)
        return BatchFeature({**self._with_labels(prompt_ids, answers, examples), **video_inputs})

    def prompts(self, examples: list[dict]) -> list[str]:
        """The task prompt of each example, as generation builds it."""
        return [self.processor.build_prompt(e["task"], query=e.get("query")) for e in examples]

    def videos(self, examples: list[dict]) -> list:
        """What the processor decodes for each example: its video path."""
        return [e["video"] for e in examples]

    def answers(self, examples: list[dict], timelines: list[SampledFrames]) -> list[str]:
        """The target of each example, rendered from the frames the model sees."""
        style, tokens = self.processor.temporal_prompt_style, self.processor.num_frame_tokens
        return [render_target(e, timeline, style, tokens) for e, timeline in zip(examples, timelines)]

    def _decoded_inputs(self, examples: list[dict], prompts: list[str]):
        videos_kwargs = {"decode_mode": self.decode_mode} | (
            {"num_frames": self.num_frames} if self.num_frames else {}
        )
        inputs = self.processor(
            text=prompts, videos=self.videos(examples), padding=False, return_metadata=True, **videos_kwargs
        )
        timelines = [SampledFrames.from_metadata(metadata) for metadata in inputs["video_metadata"]]
        video_inputs = {key: inputs[key] for key in ("pixel_values_videos", "video_frame_mask")}
        return inputs["input_ids"], video_inputs, timelines

    def _cached_inputs(self, examples: list[dict], prompts: list[str]):
        cached = [self.feature_cache.get(e["video"]) for e in examples]
        features = [f for f, _ in cached]
        prompt_ids = self.processor.tokenize_prompts(prompts, [len(f) for f in features])
        padded, mask = pad_videos(features)
        return prompt_ids, {"video_tower_features": padded, "video_frame_mask": mask}, [t for _, t in cached]

    def _answer_ids(self, answer: str) -> list[int]:
        """The answer's ids + EOS, as generation continues the prompt: after a space for text; a keyframe token
        right away (a space would be a token of its own for byte-level BPE and SentencePiece tokenizers)."""
        answer = answer.strip()
        starts_with_keyframe = self.processor.temporal_prompt_style == "special" and answer.startswith("[f")
        text = answer if starts_with_keyframe else " " + answer
        return self.processor.tokenizer(text, add_special_tokens=False)["input_ids"] + [
            self.processor.tokenizer.eos_token_id
        ]

    def _with_labels(
        self, prompt_ids: list[list[int]], answers: list[str], examples: list[dict]
    ) -> dict[str, torch.Tensor]:
        tokenizer = self.processor.tokenizer
        rows, labels = [], []
        for i, (prompt, answer) in enumerate(zip(prompt_ids, answers)):
            answer_ids = self._answer_ids(answer)
            length = len(prompt) + len(answer_ids)
            if self.max_length is not None and length > self.max_length:
                where = examples[i].get("source") or f"Training example {i} of the batch"
                raise ValueError(
                    f"{where} ({examples[i]['video']}) is {length} tokens ({len(prompt)} prompt incl. frames + "
                    f"{len(answer_ids)} answer), longer than max_length={self.max_length}; frames are never "
                    "truncated: sample fewer frames or raise max_length"
                )
            rows.append(list(prompt) + answer_ids)
            labels.append([-100] * len(prompt) + answer_ids)
        longest = max(len(row) for row in rows)
        input_ids = torch.full((len(rows), longest), tokenizer.pad_token_id, dtype=torch.long)
        label_ids = torch.full((len(rows), longest), -100, dtype=torch.long)
        attention_mask = torch.zeros((len(rows), longest), dtype=torch.long)
        for i, (row, label) in enumerate(zip(rows, labels)):
            input_ids[i, : len(row)] = torch.tensor(row)
            label_ids[i, : len(label)] = torch.tensor(label)
            attention_mask[i, : len(row)] = 1
        return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": label_ids}


@dataclass
class V2XumAlignmentCollator(V2XumDataCollator):
    """Stage 1 (alignment) batches from alignment rows (`v2xum.alignment_data`): the frames of each row's clip (or
    its one frame) in the plain template, `[f00]<frame>[f01]<frame>...` and a newline with no system prompt or
    instruction, and its caption as the answer (labels on the caption and EOS only)."""

    def __post_init__(self):
        if self.feature_cache is not None:
            raise ValueError(
                "Alignment decodes each row's clip: a feature cache (one entry per whole video) does not apply"
            )

    def prompts(self, examples: list[dict]) -> list[str]:
        return [self.processor.video_token + "\n"] * len(examples)

    def videos(self, examples: list[dict]) -> list[DecodedVideo]:
        video_processor = self.processor.video_processor
        num_frames = self.num_frames or video_processor.num_frames
        return [
            decode_alignment_clip(e, num_frames, self.decode_mode, video_processor.resize_edge()) for e in examples
        ]

    def answers(self, examples: list[dict], timelines: list[SampledFrames]) -> list[str]:
        return [e["caption"] for e in examples]


__all__ = ["V2XumDataCollator", "V2XumAlignmentCollator"]
