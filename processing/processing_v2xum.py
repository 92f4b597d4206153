# Copyright 2026 The V2Xum Authors. Licensed under the Apache License, Version 2.0.
"""Processor for V2Xum: task prompts, `[f00]<frame>...` expansion, training examples and answer parsing."""

import re

import torch
from transformers import BatchFeature, ProcessorMixin
from transformers.processing_utils import ProcessingKwargs, Unpack

from .summary import SUMMARY_TASKS, FrameTimeline, VideoSummary, parse_summary
from .video_processing_v2xum import V2XumVideosKwargs


# The released V2Xum-LLaMA's system prompt and task instructions, verbatim.
SYSTEM_PROMPT = (
    "A chat between a curious user and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the user's questions."
)
TASK_INSTRUCTIONS = {
    "video": "Please generate a VIDEO summarization for this video.",
    "text": "Please generate a TEXT summarization for this video.",
    "both": "Please generate BOTH video and text summarization for this video.",
}
QUERY_TEMPLATE = " Focus on what the video shows about: {query}"

# Vicuna v1: "<system> USER: <video>\n <instruction> ASSISTANT: <answer></s>". The released query puts a space after
# the newline ("<video>\n " + instruction); the template keeps it.
CHAT_TEMPLATE = (
    "{%- set system = '" + SYSTEM_PROMPT.replace("'", "\\'") + "' -%}"
    "{%- if messages[0]['role'] == 'system' -%}"
    "{%- set system = messages[0]['content'] if messages[0]['content'] is string "
    "else messages[0]['content'][0]['text'] -%}"
    "{%- set messages = messages[1:] -%}"
    "{%- endif -%}"
    "{{ system }}"
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'user' %} USER: {% else %} ASSISTANT: {% endif -%}"
    "{%- if message['content'] is string -%}{{ message['content'] }}"
    "{%- else -%}{%- for block in message['content'] -%}"
    "{%- if block['type'] == 'video' -%}{{ '<video>\\n ' }}"
    "{%- elif block['type'] == 'text' -%}{{ block['text'] }}{%- endif -%}"
    "{%- endfor -%}{%- endif -%}"
    "{%- if message['role'] == 'assistant' -%}{{ eos_token }}{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt %} ASSISTANT:{% endif -%}"
)


class V2XumProcessorKwargs(ProcessingKwargs, total=False):
    videos_kwargs: V2XumVideosKwargs


class V2XumProcessor(ProcessorMixin):
    r"""
    Builds V2Xum inputs from videos and task prompts, and turns generated answers into `VideoSummary` objects.

    Each `<video>` in the text becomes one temporal prompt plus `num_video_tokens_per_frame` placeholders per
    sampled frame: `[f00]<frame>[f01]<frame>...` in the `special` style, `[00]<frame>[01]<frame>...` (plain text
    digits, as the released V2Xum-LLaMA was trained) in the `text` style.

    Args:
        video_processor (`V2XumVideoProcessor`): decodes and preprocesses videos.
        tokenizer: the decoder's tokenizer, holding `<frame>` (and `[f00]..[f99]` for the `special` style).
        chat_template (`str`, *optional*): defaults to the Vicuna v1 template of the released model.
        num_video_tokens_per_frame (`int`, defaults to 1): must equal the model's `config.num_video_tokens_per_frame`.
        temporal_prompt_style (`"special"` or `"text"`, defaults to `"special"`).
        video_token (`str`, defaults to `"<video>"`): the marker users write where the video goes.
        frame_placeholder_token (`str`, defaults to `"<frame>"`): the token replaced by visual features.
    """

    valid_processor_kwargs = V2XumProcessorKwargs
    videos_kwargs = {"return_metadata": True}

    def __init__(
        self,
        video_processor=None,
        tokenizer=None,
        chat_template: str | None = None,
        num_video_tokens_per_frame: int = 1,
        temporal_prompt_style: str = "special",
        video_token: str = "<video>",
        frame_placeholder_token: str = "<frame>",
        **kwargs,
    ):
        if temporal_prompt_style not in ("special", "text"):
            raise ValueError(f"temporal_prompt_style must be 'special' or 'text', got {temporal_prompt_style!r}")
        if num_video_tokens_per_frame < 1:
            raise ValueError(f"num_video_tokens_per_frame must be >= 1, got {num_video_tokens_per_frame}")
        self.num_video_tokens_per_frame = num_video_tokens_per_frame
        self.temporal_prompt_style = temporal_prompt_style
        self.video_token = video_token
        self.frame_placeholder_token = frame_placeholder_token
        self.frame_placeholder_id = tokenizer.convert_tokens_to_ids(frame_placeholder_token)
        if self.frame_placeholder_id in (None, tokenizer.unk_token_id):
            raise ValueError(
                f"The tokenizer has no '{frame_placeholder_token}' token; build it with modeling_v2xum.compose_v2xum "
                "or add it with add_v2xum_tokens"
            )
        if temporal_prompt_style == "special" and tokenizer.convert_tokens_to_ids("[f00]") in (
            None,
            tokenizer.unk_token_id,
        ):
            raise ValueError("temporal_prompt_style='special' needs [f00]..[f99] in the tokenizer (add_v2xum_tokens)")
        super().__init__(video_processor, tokenizer, chat_template=chat_template or CHAT_TEMPLATE, **kwargs)

    @property
    def model_input_names(self) -> list[str]:
        return ["input_ids", "attention_mask", "pixel_values_videos", "video_frame_mask"]

    def temporal_prompt(self, frame: int) -> str:
        return f"[f{frame:02d}]" if self.temporal_prompt_style == "special" else f"[{frame:02d}]"

    def video_prompt(self, num_frames: int) -> str:
        """What one `<video>` becomes: `[f00]<frame>[f01]<frame>...` for `num_frames` frames."""
        placeholders = self.frame_placeholder_token * self.num_video_tokens_per_frame
        return "".join(self.temporal_prompt(i) + placeholders for i in range(num_frames))

    def replace_video_token(self, video_inputs: dict, video_idx: int, **kwargs) -> str:
        return self.video_prompt(int(video_inputs["video_frame_mask"][video_idx].sum()))

    def build_prompt(self, task: str = "both", instruction: str | None = None, query: str | None = None) -> str:
        """The generation prompt for one video: the released model's instruction for `task` (or `instruction`),
        optionally focused on a user `query`, rendered with the chat template and ending with `ASSISTANT:`."""
        if task not in SUMMARY_TASKS:
            raise ValueError(f"task must be one of {SUMMARY_TASKS}, got {task!r}")
        instruction = instruction or TASK_INSTRUCTIONS[task]
        if query:
            instruction += QUERY_TEMPLATE.format(query=query.strip())
        messages = [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": instruction}]}]
        return self.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    def __call__(self, text=None, videos=None, images=None, audio=None, **kwargs: Unpack[V2XumProcessorKwargs]):
        """As `ProcessorMixin.__call__`, with left padding by default (batched generation), and with `text`
        optional: without it, one default BOTH prompt is built per video."""
        if text is None and videos is not None:
            num_videos = len(videos) if isinstance(videos, (list, tuple)) else 1
            text = [self.build_prompt("both")] * num_videos
        kwargs.setdefault("padding", True)
        kwargs.setdefault("padding_side", "left")
        if self.temporal_prompt_style == "text" and videos is not None and text is not None:
            return self._call_with_segments(text, videos, **kwargs)
        return super().__call__(images=images, text=text, videos=videos, audio=audio, **kwargs)

    def tokenize_prompts(self, texts: list[str], frame_counts: list[int]) -> list[list[int]]:
        """Token ids of prompts whose `<video>` markers stand for videos of `frame_counts` frames (in order).

        `special` style: the expanded text is tokenized whole. `text` style: as the released model was fed, the
        text around each video is tokenized on its own (BOS only at the start) and each `[ii]` on its own, so a
        plain-text temporal prompt never merges with its neighbours (`USER: [00]` would otherwise tokenize
        ` [` instead of `[`).
        """
        counts = iter(frame_counts)
        if self.temporal_prompt_style == "special":
            expanded = [
                re.sub(re.escape(self.video_token), lambda _: self.video_prompt(next(counts)), sample)
                for sample in texts
            ]
            return self.tokenizer(expanded)["input_ids"]
        placeholders = [self.frame_placeholder_id] * self.num_video_tokens_per_frame
        rows = []
        for sample in texts:
            chunks = sample.split(self.video_token)
            ids = list(self.tokenizer(chunks[0])["input_ids"])
            for chunk in chunks[1:]:
                for frame in range(next(counts)):
                    ids += self._temporal_prompt_ids(frame) + placeholders
                ids += self.tokenizer(chunk, add_special_tokens=False)["input_ids"] if chunk else []
            rows.append(ids)
        return rows

    def _temporal_prompt_ids(self, frame: int) -> list[int]:
        return self.tokenizer(self.temporal_prompt(frame), add_special_tokens=False)["input_ids"]

    def _call_with_segments(self, text, videos, **kwargs) -> BatchFeature:
        texts = [text] if isinstance(text, str) else list(text)
        merged = self._merge_kwargs(V2XumProcessorKwargs, tokenizer_init_kwargs=self.tokenizer.init_kwargs, **kwargs)
        processed_videos, _ = self._process_videos(videos, **merged["videos_kwargs"])
        frame_counts = torch.as_tensor(processed_videos["video_frame_mask"]).sum(dim=1).tolist()
        if sum(t.count(self.video_token) for t in texts) != len(frame_counts):
            raise ValueError(
                f"{sum(t.count(self.video_token) for t in texts)} '{self.video_token}' markers in the text but "
                f"{len(frame_counts)} videos"
            )
        text_kwargs = merged["text_kwargs"]
        text_inputs = self.tokenizer.pad(
            {"input_ids": self.tokenize_prompts(texts, [int(c) for c in frame_counts])},
            padding=text_kwargs.get("padding", True),
            padding_side=text_kwargs.get("padding_side", "left"),
        )
        data = {**text_inputs, **processed_videos}
        if not kwargs.get("return_metadata"):
            data.pop("video_metadata", None)
        return BatchFeature(data, tensor_type=text_kwargs.get("return_tensors"))

    def build_training_inputs(
        self,
        videos,
        answers: list[str],
        tasks: list[str] | str = "both",
        queries: list[str | None] | None = None,
        max_length: int | None = None,
        video_tower_features: list[torch.Tensor] | None = None,
        **videos_kwargs,
    ) -> BatchFeature:
        """Training batch: prompt + answer + EOS per video, right-padded, `labels` -100 except answer and EOS.

        The answer is tokenized on its own after the prompt, exactly as `generate` continues a prompt, so what the
        model learns is what it will be asked to produce. Nothing is truncated: an example longer than `max_length`
        raises a `ValueError` that names its length and the limit.

        With `video_tower_features` (cached `(frames, tokens, dim)` tower outputs per video, `videos` then None),
        the batch carries them, padded, instead of `pixel_values_videos`; the token ids are the same.
        """
        if video_tower_features is not None:
            videos = list(video_tower_features)
        videos = list(videos) if isinstance(videos, (list, tuple)) else [videos]
        tasks = [tasks] * len(videos) if isinstance(tasks, str) else list(tasks)
        queries = queries or [None] * len(videos)
        if not len(videos) == len(answers) == len(tasks) == len(queries):
            raise ValueError(
                f"Got {len(videos)} videos, {len(answers)} answers, {len(tasks)} tasks and {len(queries)} queries"
            )
        prompts = [self.build_prompt(task, query=query) for task, query in zip(tasks, queries)]
        if video_tower_features is not None:
            prompt_inputs = {"input_ids": self.tokenize_prompts(prompts, [len(f) for f in videos])}
            lengths = torch.tensor([len(f) for f in videos])
            padded = torch.zeros((len(videos), int(lengths.max()), *videos[0].shape[1:]), dtype=videos[0].dtype)
            for i, features in enumerate(videos):
                padded[i, : len(features)] = features
            prompt_inputs["video_tower_features"] = padded
            prompt_inputs["video_frame_mask"] = torch.arange(padded.shape[1])[None, :] < lengths[:, None]
        else:
            prompt_inputs = self(text=prompts, videos=videos, padding=False, videos_kwargs=videos_kwargs)
        eos = self.tokenizer.eos_token_id
        rows, labels = [], []
        for i, (prompt_ids, answer) in enumerate(zip(prompt_inputs["input_ids"], answers)):
            answer_ids = self.tokenizer(" " + answer.strip(), add_special_tokens=False)["input_ids"] + [eos]
            length = len(prompt_ids) + len(answer_ids)
            if max_length is not None and length > max_length:
                raise ValueError(
                    f"Training example {i} is {length} tokens ({len(prompt_ids)} prompt incl. frames + "
                    f"{len(answer_ids)} answer), longer than max_length={max_length}; frames are never truncated: "
                    "sample fewer frames or raise max_length"
                )
            rows.append(list(prompt_ids) + answer_ids)
            labels.append([-100] * len(prompt_ids) + answer_ids)

        longest = max(len(row) for row in rows)
        pad = self.tokenizer.pad_token_id
        input_ids = torch.full((len(rows), longest), pad, dtype=torch.long)
        label_ids = torch.full((len(rows), longest), -100, dtype=torch.long)
        attention_mask = torch.zeros((len(rows), longest), dtype=torch.long)
        for i, (row, label) in enumerate(zip(rows, labels)):
            input_ids[i, : len(row)] = torch.tensor(row)
            label_ids[i, : len(label)] = torch.tensor(label)
            attention_mask[i, : len(row)] = 1
        video_key = "pixel_values_videos" if video_tower_features is None else "video_tower_features"
        data = {
            "input_ids": input_ids,
            "attention_mask": attention_mask,
            "labels": label_ids,
            video_key: prompt_inputs[video_key],
            "video_frame_mask": prompt_inputs["video_frame_mask"],
        }
        return BatchFeature(data)

    def post_process(
        self,
        generated: torch.Tensor | list[int] | list[list[int]] | str | list[str],
        video_metadata,
        task: str = "both",
    ) -> VideoSummary | list[VideoSummary]:
        """Parses generated answers (new token ids, without the prompt, or decoded text) into `VideoSummary`
        objects with keyframes as (sampled index, source frame index, seconds from the decoded timestamps).

        `video_metadata` is one metadata object per answer (from `processor(..., return_metadata=True)` or a
        `DecodedVideo`); a single answer gives a single summary.
        """
        if isinstance(generated, str):
            single = True
        elif isinstance(generated, torch.Tensor):
            single = generated.ndim == 1
        else:
            single = len(generated) > 0 and isinstance(generated[0], int)
        answers = [generated] if single else list(generated)
        metadata = [video_metadata] if not isinstance(video_metadata, (list, tuple)) else list(video_metadata)
        if len(metadata) != len(answers):
            raise ValueError(f"Got {len(answers)} answers but {len(metadata)} video metadata entries")
        summaries = []
        for answer, meta in zip(answers, metadata):
            if not isinstance(answer, str):
                answer = self.decode_answer(answer)
            summaries.append(parse_summary(answer, FrameTimeline.from_metadata(meta), task))
        return summaries[0] if single else summaries

    def decode_answer(self, token_ids) -> str:
        """Decodes generated ids keeping `[fNN]` tokens but dropping padding, BOS/EOS and placeholders."""
        if isinstance(token_ids, torch.Tensor):
            token_ids = token_ids.tolist()
        dropped = {self.tokenizer.pad_token_id, self.tokenizer.eos_token_id, self.tokenizer.bos_token_id}
        dropped.add(self.frame_placeholder_id)
        return self.tokenizer.decode([t for t in token_ids if t not in dropped], skip_special_tokens=False).strip()


__all__ = ["V2XumProcessor", "SYSTEM_PROMPT", "TASK_INSTRUCTIONS", "CHAT_TEMPLATE"]
