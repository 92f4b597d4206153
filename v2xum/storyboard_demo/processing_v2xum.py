# Copyright 2026 The V2Xum Authors. Licensed under the Apache License, Version 2.0.
"""Processor for V2Xum: task prompts, the chat template, `[f00]<frame>...` expansion and answer parsing."""

import re

import torch
from transformers import BatchFeature, ProcessorMixin, TextStreamer
from transformers.processing_utils import ProcessingKwargs, Unpack

from .summary import (
    SUMMARY_TASKS,
    TWO_DIGIT_FRAMES,
    SampledFrames,
    VideoSummary,
    annotate_keyframe_times,
    frame_token,
    merge_window_summaries,
    parse_summary,
)
from .video_processing_v2xum import V2XumVideosKwargs, flatten_videos


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
    _defaults = {}  # transformers < 5.20 reads it in `apply_chat_template`


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
        num_frame_tokens (`int`, defaults to 100): the model's `config.num_frame_tokens`, the most frames a prompt
            can name (more is an error); above 100, temporal prompts have three digits.
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
        num_frame_tokens: int = TWO_DIGIT_FRAMES,
        **kwargs,
    ):
        if temporal_prompt_style not in ("special", "text"):
            raise ValueError(f"temporal_prompt_style must be 'special' or 'text', got {temporal_prompt_style!r}")
        if num_video_tokens_per_frame < 1:
            raise ValueError(f"num_video_tokens_per_frame must be >= 1, got {num_video_tokens_per_frame}")
        self.num_video_tokens_per_frame = num_video_tokens_per_frame
        self.temporal_prompt_style = temporal_prompt_style
        self.num_frame_tokens = num_frame_tokens
        self.video_token = video_token
        self.frame_placeholder_token = frame_placeholder_token
        self.frame_placeholder_id = tokenizer.convert_tokens_to_ids(frame_placeholder_token)
        if self.frame_placeholder_id in (None, tokenizer.unk_token_id):
            raise ValueError(
                f"The tokenizer has no '{frame_placeholder_token}' token; build it with modeling_v2xum.compose_v2xum "
                "or add it with add_v2xum_tokens"
            )
        last = frame_token(num_frame_tokens - 1, temporal_prompt_style, num_frame_tokens)
        if temporal_prompt_style == "special" and tokenizer.convert_tokens_to_ids(last) in (
            None,
            tokenizer.unk_token_id,
        ):
            raise ValueError(
                f"temporal_prompt_style='special' with {num_frame_tokens} frame tokens needs "
                f"{frame_token(0, 'special', num_frame_tokens)}..{last} in the tokenizer (add_v2xum_tokens)"
            )
        super().__init__(video_processor, tokenizer, chat_template=chat_template or CHAT_TEMPLATE, **kwargs)

    @property
    def model_input_names(self) -> list[str]:
        return ["input_ids", "attention_mask", "pixel_values_videos", "video_frame_mask"]

    def temporal_prompt(self, frame: int) -> str:
        return frame_token(frame, self.temporal_prompt_style, self.num_frame_tokens)

    def check_frame_count(self, num_frames: int) -> None:
        """A prompt can name at most `num_frame_tokens` frames: more would use temporal prompts the model does not
        know and keyframes it can never name."""
        if num_frames > self.num_frame_tokens:
            raise ValueError(
                f"{num_frames} frames asked for, but this model has {self.num_frame_tokens} frame tokens: sample at "
                f"most {self.num_frame_tokens} frames (num_frames={self.num_frame_tokens}, or a lower fps), or "
                "summarize in time windows (window_seconds=..., `v2xum summarize --window-seconds`)"
            )

    def video_prompt(self, num_frames: int) -> str:
        """What one `<video>` becomes: `[f00]<frame>[f01]<frame>...` for `num_frames` frames."""
        self.check_frame_count(num_frames)
        placeholders = self.frame_placeholder_token * self.num_video_tokens_per_frame
        return "".join(self.temporal_prompt(i) + placeholders for i in range(num_frames))

    def replace_video_token(self, video_inputs: dict, video_idx: int, **kwargs) -> str:
        return self.video_prompt(int(video_inputs["video_frame_mask"][video_idx].sum()))

    def validate_inputs(self, images=None, text=None, videos=None, audio=None, **kwargs):
        # Videos are counted here: the base class counts them with `make_batched_videos`, which does not know
        # `DecodedVideo` inputs.
        if videos is None:
            return super().validate_inputs(images=images, text=text, videos=videos, audio=audio, **kwargs)
        if text is None:
            return None
        texts = [text] if isinstance(text, str) else text
        if not isinstance(texts, list) or not all(isinstance(sample, str) for sample in texts):
            raise ValueError("`text` must be a string or list of strings.")
        markers, count = sum(sample.count(self.video_token) for sample in texts), len(flatten_videos(videos))
        if markers != count:
            raise ValueError(f"{markers} '{self.video_token}' markers in the text but {count} videos")
        return None

    def _process_videos(self, videos, **kwargs):
        # Videos are counted after processing: the base class counts with `make_batched_videos`, which does not
        # know `DecodedVideo` inputs.
        processed = self.video_processor(videos, **kwargs)
        return processed, [self.replace_video_token(processed, i) for i in range(len(processed["video_frame_mask"]))]

    @staticmethod
    def task_of_instruction(instruction: str) -> str | None:
        """The task a released instruction asks for (`"Please generate a TEXT summarization ..."` -> `"text"`),
        or None for any other text."""
        return {text: task for task, text in TASK_INSTRUCTIONS.items()}.get(instruction.strip())

    def build_prompt(self, task: str = "both", instruction: str | None = None, query: str | None = None) -> str:
        """The generation prompt for one video: the released model's instruction for `task` (or `instruction`),
        optionally focused on a user `query`, rendered with the chat template and ending with `ASSISTANT:`."""
        if task not in SUMMARY_TASKS:
            raise ValueError(f"task must be one of {SUMMARY_TASKS}, got {task!r}")
        instruction = instruction or TASK_INSTRUCTIONS[task]
        if query:
            instruction += QUERY_TEMPLATE.format(query=query.strip())
        # Plain-text content, so that any chat template renders it (an LM's own ChatML as well as V2Xum's Vicuna,
        # where it equals the video block + text form: "<video>\n " + instruction, as the released query).
        messages = [{"role": "user", "content": f"{self.video_token}\n {instruction}"}]
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
                count = next(counts)
                self.check_frame_count(count)
                for frame in range(count):
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

    def post_process(
        self,
        generated: torch.Tensor | list[int] | list[list[int]] | str | list[str],
        video_metadata,
        task: str = "both",
    ) -> VideoSummary | list[VideoSummary]:
        """Parses generated answers (new token ids, without the prompt, or decoded text) into `VideoSummary`
        objects with keyframes as (sampled index, source frame index, seconds from the decoded timestamps). Never
        raises on what a model produced: ids outside the vocabulary and impossible keyframes are dropped with a
        warning.

        `video_metadata` is one metadata object per answer (from `processor(..., return_metadata=True)` or a
        `DecodedVideo`); a single answer gives a single summary.
        """
        if isinstance(generated, str):
            single = True
        elif isinstance(generated, torch.Tensor):
            single = generated.ndim == 1
        elif len(generated) == 0:  # an empty answer, or an empty batch
            single = not isinstance(video_metadata, (list, tuple))
        else:
            single = isinstance(generated[0], int)
        answers = [generated] if single else list(generated)
        metadata = [video_metadata] if not isinstance(video_metadata, (list, tuple)) else list(video_metadata)
        if len(metadata) != len(answers):
            raise ValueError(f"Got {len(answers)} answers but {len(metadata)} video metadata entries")
        summaries = []
        for answer, meta in zip(answers, metadata):
            notes = []
            if not isinstance(answer, str):
                ids = answer.tolist() if isinstance(answer, torch.Tensor) else list(answer)
                valid = [t for t in ids if isinstance(t, int) and 0 <= t < len(self.tokenizer)]
                if len(valid) != len(ids):
                    notes.append(f"dropped {len(ids) - len(valid)} token id(s) outside the vocabulary")
                if valid and self.tokenizer.eos_token_id not in valid:  # generation ends at EOS or at its limit
                    notes.append("stopped at max_new_tokens: the answer may be cut off")
                answer = self.decode_answer(valid)
            summary = parse_summary(answer, SampledFrames.from_metadata(meta), task)
            decoding = meta.get("warnings") if isinstance(meta, dict) else getattr(meta, "warnings", None)
            summary.warnings = [*(decoding or []), *notes, *summary.warnings]
            summaries.append(summary)
        return summaries[0] if single else summaries

    def post_process_windows(
        self,
        generated: list,
        video_metadata: list,
        windows: list[tuple[float, float]],
        task: str = "both",
        max_keyframes: int | None = None,
    ) -> VideoSummary:
        """One `VideoSummary` from the answers for consecutive time windows of a video (see
        `merge_window_summaries`); `windows` are `(start, end)` seconds, one per answer."""
        summaries = self.post_process(list(generated), list(video_metadata), task=task)
        summaries = summaries if isinstance(summaries, list) else [summaries]
        spans = [
            (start, end, len(SampledFrames.from_metadata(meta))) for (start, end), meta in zip(windows, video_metadata)
        ]
        return merge_window_summaries(summaries, spans, max_keyframes)

    def decode_answer(self, token_ids) -> str:
        """Decodes generated ids keeping `[fNN]` tokens but dropping padding, BOS/EOS and placeholders."""
        return self.decode(token_ids, skip_special_tokens=True).strip()

    def decode(self, token_ids, skip_special_tokens: bool = False, **kwargs):
        """The tokenizer's `decode` (one sequence or a batch), except that `skip_special_tokens=True` keeps the
        `[fNN]` keyframe tokens: special to the tokenizer, yet words of the answer. Padding, BOS/EOS, the frame
        placeholder and other special tokens still go. `TextStreamer(processor, skip_special_tokens=True)` therefore
        streams keyframes too."""
        if isinstance(token_ids, torch.Tensor):
            token_ids = token_ids.tolist()
        if isinstance(token_ids, int):
            token_ids = [token_ids]
        if skip_special_tokens:
            hidden = self._hidden_token_ids()
            batched = len(token_ids) > 0 and isinstance(token_ids[0], (list, tuple))
            token_ids = (
                [[t for t in ids if t not in hidden] for ids in token_ids]
                if batched
                else [t for t in token_ids if t not in hidden]
            )
        return self.tokenizer.decode(token_ids, skip_special_tokens=False, **kwargs)

    def batch_decode(self, sequences, skip_special_tokens: bool = False, **kwargs) -> list[str]:
        """`decode` for each sequence (keyframe tokens kept under `skip_special_tokens=True`)."""
        if isinstance(sequences, torch.Tensor):
            sequences = sequences.tolist()
        return [self.decode(ids, skip_special_tokens=skip_special_tokens, **kwargs) for ids in sequences]

    def post_process_image_text_to_text(self, generated_outputs, skip_special_tokens: bool = True, **kwargs):
        """transformers' VLM decoding hook (the image-text-to-text pipeline calls it): `decode`, keyframes kept."""
        return self.decode(generated_outputs, skip_special_tokens=skip_special_tokens, **kwargs)

    def _hidden_token_ids(self) -> set[int]:
        """What `skip_special_tokens=True` removes: every special token of the tokenizer but the keyframe tokens."""
        special = set(self.tokenizer.all_special_ids) | {self.frame_placeholder_id}
        special |= {i for i, token in self.tokenizer.added_tokens_decoder.items() if token.special}
        if self.temporal_prompt_style == "special":
            special -= {self._temporal_prompt_ids(frame)[0] for frame in range(self.num_frame_tokens)}
        return special

    def text_streamer(self, video_metadata, on_text=None, skip_prompt: bool = True) -> "KeyframeTextStreamer":
        """A `generate(streamer=...)` for one answer: prints (or passes to `on_text(text, stream_end)`) the text
        as it is generated, each keyframe reference followed by its time in the video."""
        return KeyframeTextStreamer(self, SampledFrames.from_metadata(video_metadata), on_text, skip_prompt)


class KeyframeTextStreamer(TextStreamer):
    """`TextStreamer` that decodes with the processor (keyframe tokens kept) and writes each keyframe reference with
    its seconds, e.g. `[f03 @ 12.4 s]`. Batch size 1, as `TextStreamer`."""

    def __init__(self, processor: "V2XumProcessor", timeline: SampledFrames, on_text=None, skip_prompt: bool = True):
        super().__init__(processor, skip_prompt=skip_prompt, skip_special_tokens=True)
        self.timeline, self.on_text = timeline, on_text

    def on_finalized_text(self, text: str, stream_end: bool = False):
        text = annotate_keyframe_times(text, self.timeline)
        if self.on_text is None:
            print(text, flush=True, end="" if not stream_end else None)
        else:
            self.on_text(text, stream_end)


__all__ = ["V2XumProcessor", "KeyframeTextStreamer", "SYSTEM_PROMPT", "TASK_INSTRUCTIONS", "CHAT_TEMPLATE"]
