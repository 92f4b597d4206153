# Copyright 2026 The V2Xum Authors. Licensed under the Apache License, Version 2.0.
"""The `video-summarization` pipeline: a video in, a `VideoSummary` dict out.

Only transformers, torch and numpy are imported here, so `pipe.save_pretrained` can ship this file as Hub remote code;
everything V2Xum-specific goes through the processor.
"""

import os
from dataclasses import dataclass

from transformers import GenerationConfig
from transformers.pipelines.base import ChunkPipeline


# What one video is, as an input (a list of these is a batch of videos): a path or URL, a decoded video or a dict of
# its fields, or an indexed file (`processing.video_decoding.VideoReader`, for windows).
_VIDEO_TYPES = (str, os.PathLike, dict)
_GENERATION_OPTIONS = frozenset(GenerationConfig().to_dict()) | {"streamer", "logits_processor", "stopping_criteria"}
# `(pipeline, folder)` callables run after `save_pretrained` (registered by the V2Xum package, when imported).
SAVE_HOOKS: list = []


@dataclass
class _ChatRequest:
    """A chat conversation's video and its instruction (the text of the user's turn), and the conversation."""

    video: object
    instruction: str
    messages: list


def _is_single_video(inputs) -> bool:
    """One video (not a list, dataset or generator of them)."""
    return isinstance(inputs, _VIDEO_TYPES) or type(inputs).__name__ in ("DecodedVideo", "VideoReader")


def _is_conversation(inputs) -> bool:
    """A chat conversation: a list of `{"role", "content"}` messages (transformers' chat format)."""
    return (
        isinstance(inputs, (list, tuple))
        and bool(inputs)
        and all(isinstance(m, dict) and "role" in m and "content" in m for m in inputs)
    )


def _chat_request(messages: list) -> _ChatRequest:
    """The video part and the text of the user's turn of a conversation (`{"type": "video", "video": path}`, also
    `"path"` or `"url"`, and `{"type": "text", "text": ...}`)."""
    parts = [part for m in messages if m["role"] == "user" and isinstance(m["content"], list) for part in m["content"]]
    videos = [
        part.get("video") or part.get("path") or part.get("url") for part in parts if part.get("type") == "video"
    ]
    if len(videos) != 1 or not videos[0]:
        raise ValueError(f"A conversation must hold exactly one video part in the user's turn, got {len(videos)}")
    text = " ".join(part["text"].strip() for part in parts if part.get("type") == "text" and part.get("text"))
    return _ChatRequest(videos[0], text, list(messages))


class VideoSummarizationPipeline(ChunkPipeline):
    r"""
    Summarizes videos with a V2Xum model as keyframes (`task="video"`), text (`"text"`) or both (`"both"`).

    ```python
    >>> import modeling_v2xum  # registers the task
    >>> from transformers import pipeline
    >>> summarize = pipeline("video-summarization", model="path/to/v2xum")
    >>> summarize("cooking.mp4", task="both")
    {'task': 'both', 'text': 'A man cuts onions.', 'sentences': [...], 'keyframes': [{'index': 3, 'frame_index': 91,
     'seconds': 3.03}], ...}
    ```

    Inputs: a video path, a decoded video (a `processing.DecodedVideo`, or a dict with `frames` of shape
    `(T, H, W, 3)` and `timestamps` or `fps`, optionally `frame_indices` and `duration`), a list of those (a list
    gives a list of results), a dataset or a generator of them (`KeyDataset(ds, "video")`: results as they come), or
    a chat conversation (`[{"role": "user", "content": [{"type": "video", "video": path}, {"type": "text", "text":
    instruction}]}]`, or a list of them: a released instruction sets the task, other text is the instruction).
    Every input goes to the processor as it is: decoded videos longer than `num_frames` are sampled uniformly like
    files.

    Call parameters: `task`, `num_frames` (default: the video processor's), `fps` (one frame per `1 / fps` seconds
    instead, at most `num_frames`), `query` (focus the summary on a topic), `max_keyframes`, `decode_mode`
    (`"exact"` or `"keyframes"`), `constrain_keyframes`, `max_new_tokens`, any other generation option
    (`num_beams=4`, `do_sample=True`, ...) or `generate_kwargs`, and the pipeline's `batch_size`: batches are
    left-padded and generate exactly what one-by-one calls generate with greedy decoding.

    Streaming: `stream=True` prints the answer as it is generated, each keyframe with its time (`[f03 @ 12.4 s]`);
    `stream=callback` calls `callback(text, stream_end)` instead (batch size 1).

    Long videos: `window_seconds` (or `frames_per_window` with `fps`) summarizes consecutive time windows, each
    sampled and decoded on its own (never the whole video's frames in memory), in batches of `batch_size` windows,
    merged into one summary (`merge_window_summaries`): sentences in time order, each knowing its window; keyframes
    with the video's seconds and source frames; `max_keyframes` is then the merged summary's budget, taken evenly
    across windows.

    Output: `VideoSummary.to_dict()`: `task`, `text`, `raw_text`, `sentences` (text + sampled keyframe indices),
    `keyframes` (sampled `index`, source `frame_index`, `seconds`), `warnings` and `windows`; and, as
    image-text-to-text pipelines answer, `generated_text`: the answer (keyframe tokens kept), or for a conversation
    the conversation with the assistant's answer appended. `progress=True` shows a bar over a video's windows.
    """

    _load_processor = True
    _load_tokenizer = False
    _load_image_processor = False
    _load_video_processor = False
    _load_feature_extractor = False
    _pipeline_calls_generate = True
    _default_generation_config = GenerationConfig(max_new_tokens=256)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        config, processor = self.model.config, self.processor
        if processor.temporal_prompt_style != config.temporal_prompt_style or (
            config.temporal_prompt_style == "special" and processor.num_frame_tokens != config.num_frame_tokens
        ):
            raise ValueError(
                f"The processor ({processor.temporal_prompt_style} temporal prompts, {processor.num_frame_tokens} "
                f"frame tokens) does not match the model ({config.temporal_prompt_style}, {config.num_frame_tokens}): "
                "the model could never name a keyframe; save the processor that was built for it"
            )
        # The DataLoader collate pads input_ids on `tokenizer.padding_side`; decoder-only generation needs left.
        if self.tokenizer is not None:
            self.tokenizer.padding_side = "left"

    def _sanitize_parameters(
        self,
        task: str | None = None,
        num_frames: int | None = None,
        fps: float | None = None,
        query: str | None = None,
        max_keyframes: int | None = None,
        decode_mode: str | None = None,
        constrain_keyframes: bool | None = None,
        max_new_tokens: int | None = None,
        generate_kwargs: dict | None = None,
        window_seconds: float | None = None,
        frames_per_window: int | None = None,
        stream=None,
        progress: bool | None = None,
        **kwargs,
    ):
        unknown = sorted(set(kwargs) - _GENERATION_OPTIONS)
        if unknown:
            raise TypeError(f"Unknown video-summarization parameters: {unknown}")
        preprocess, forward, postprocess = {}, {}, {}
        window_seconds = _window_seconds(window_seconds, frames_per_window, fps)
        if window_seconds is not None:
            preprocess["window_seconds"] = postprocess["window_seconds"] = window_seconds
            if max_keyframes is not None:
                postprocess["max_keyframes"] = max_keyframes
            if progress:
                preprocess["progress"] = True
        if task is not None:  # checked by processor.build_prompt
            preprocess["task"] = forward["task"] = postprocess["task"] = task
        if num_frames is not None:
            if not isinstance(num_frames, int) or num_frames < 1:
                raise ValueError(f"num_frames must be a positive integer, got {num_frames!r}")
            preprocess["num_frames"] = num_frames
        if fps is not None:
            preprocess["fps"] = _positive(fps, "fps")
        preprocess |= {key: value for key, value in (("query", query), ("decode_mode", decode_mode)) if value}
        if max_keyframes is not None:
            forward["max_keyframes"] = max_keyframes
        if constrain_keyframes is not None:
            forward["constrain_keyframes"] = constrain_keyframes
        if stream:
            forward["stream"] = stream
        generate_kwargs = {**kwargs, **(generate_kwargs or {})}
        if max_new_tokens is not None:
            generate_kwargs["max_new_tokens"] = max_new_tokens
        if generate_kwargs:
            forward["generate_kwargs"] = generate_kwargs
        return preprocess, forward, postprocess

    def __call__(self, inputs, **kwargs):
        if isinstance(inputs, (list, tuple)) and len(inputs) == 0:
            raise ValueError("No videos given: pass a path, a decoded video, or a non-empty list of them")
        if _is_conversation(inputs) or isinstance(inputs, (list, tuple)) and all(map(_is_conversation, inputs)):
            return self._call_conversations(inputs, **kwargs)
        if _is_single_video(inputs) and (kwargs.get("batch_size") or self._batch_size or 1) > 1:
            return super().__call__([inputs], **kwargs)[0]  # windows of one video are batched through the iterator
        return super().__call__(list(inputs) if isinstance(inputs, tuple) else inputs, **kwargs)

    def _call_conversations(self, inputs, **kwargs):
        """Conversations: one task for all of them (a batch generates under one keyframe rule), from their released
        instructions, else `task` (default "both")."""
        single = _is_conversation(inputs)
        requests = [_chat_request(conversation) for conversation in ([inputs] if single else inputs)]
        tasks = {self.processor.task_of_instruction(r.instruction) or kwargs.get("task") or "both" for r in requests}
        if len(tasks) > 1:
            raise ValueError(f"Conversations of one call must ask for one task, got {sorted(tasks)}")
        outputs = super().__call__(requests, **{**kwargs, "task": tasks.pop()})
        return outputs[0] if single else outputs

    def preprocess(
        self,
        video,
        task: str = "both",
        num_frames: int | None = None,
        fps=None,
        query=None,
        decode_mode=None,
        window_seconds: float | None = None,
        progress: bool = False,
    ):
        """One model input per video, or (with `window_seconds`) one per time window, each marked `is_last`."""
        conversation = None  # a `_ChatRequest` (one object, not a list: batches collate it like the metadata)
        if isinstance(video, _ChatRequest):
            released = self.processor.task_of_instruction(video.instruction) is not None
            instruction = None if released else video.instruction or None
            prompt = self.processor.build_prompt(task, instruction=instruction, query=query)
            conversation, video = video, video.video
        else:
            prompt = self.processor.build_prompt(task, query=query)
        video = os.fspath(video) if isinstance(video, os.PathLike) else video
        if window_seconds is None:
            inputs = self._model_inputs(prompt, video, num_frames, fps, decode_mode)
            yield {**inputs, "is_last": True, "conversation": conversation}
            return
        windows = self.processor.video_processor.iter_windows(
            video, window_seconds, num_frames, fps, decode_mode, progress=progress
        )
        pending = None
        for start, end, window in windows:  # held back one step: the last window must say so
            if pending is not None:
                yield {**pending, "is_last": False}
            inputs = self._model_inputs(prompt, window, num_frames, None, None)
            pending = {**inputs, "window": (start, end), "conversation": conversation}
        yield {**pending, "is_last": True}

    def _model_inputs(self, prompt: str, video, num_frames, fps, decode_mode):
        videos_kwargs = {"num_frames": num_frames, "fps": fps, "decode_mode": decode_mode}
        inputs = self.processor(
            text=[prompt],
            videos=[video],
            return_metadata=True,
            return_tensors="pt",
            **{key: value for key, value in videos_kwargs.items() if value},
        )
        metadata = inputs.pop("video_metadata")[0]
        inputs = inputs.to(self.dtype)
        # Not a tensor: the collate function turns it into a list, one entry per video of the batch.
        inputs["video_metadata"] = metadata
        return inputs

    def _forward(
        self,
        model_inputs,
        task: str = "both",
        max_keyframes: int | None = None,
        constrain_keyframes: bool = True,
        generate_kwargs: dict | None = None,
        stream=None,
    ):
        metadata = model_inputs.pop("video_metadata")
        is_last, window = model_inputs.pop("is_last"), model_inputs.pop("window", None)
        conversation = model_inputs.pop("conversation", None)
        prompt_length = model_inputs["input_ids"].shape[1]
        generate_kwargs = dict(generate_kwargs or {})
        if stream:
            if model_inputs["input_ids"].shape[0] != 1:
                raise ValueError("stream=... streams one answer at a time: use batch_size=1")
            one = metadata[0] if isinstance(metadata, list) else metadata
            generate_kwargs["streamer"] = self.processor.text_streamer(one, None if stream is True else stream)
        generated = self.model.generate(
            **model_inputs,
            summary_task=task,
            max_keyframes=max_keyframes,
            constrain_keyframes=constrain_keyframes,
            **self._generate_kwargs_for_call(generate_kwargs),
        )
        outputs = {
            "generated": generated[:, prompt_length:],
            "video_metadata": metadata if isinstance(metadata, list) else [metadata],
            "is_last": is_last,
            "conversation": conversation if isinstance(conversation, list) else [conversation],
        }
        if window is not None:
            outputs["window"] = window if isinstance(window, list) else [window]
        return outputs

    def _generate_kwargs_for_call(self, generate_kwargs: dict) -> dict:
        """The call's generation parameters on top of the pipeline's, as transformers' own pipelines combine them
        (`_prepare_generate_kwargs` from transformers 5.20; before it, the pipeline's `generation_config` unless the
        call passes one)."""
        if hasattr(self, "_prepare_generate_kwargs"):
            return self._prepare_generate_kwargs(generate_kwargs)
        return {"generation_config": self.generation_config} | generate_kwargs

    def postprocess(self, model_outputs, task: str = "both", window_seconds=None, max_keyframes=None):
        # Per chunk, a list of one (unbatched run) or the entry itself (unrolled from a batch).
        def one(value):
            return value[0] if isinstance(value, list) else value

        if window_seconds is None:
            (output,) = model_outputs
            summary = self.processor.post_process(output["generated"][0], one(output["video_metadata"]), task=task)
        else:
            summary = self.processor.post_process_windows(
                [output["generated"][0] for output in model_outputs],
                [one(output["video_metadata"]) for output in model_outputs],
                [tuple(one(output["window"])) for output in model_outputs],
                task=task,
                max_keyframes=max_keyframes,
            )
        request, answer = one(model_outputs[-1]["conversation"]), summary.raw_text
        generated_text = answer if request is None else [*request.messages, {"role": "assistant", "content": answer}]
        return {**summary.to_dict(), "generated_text": generated_text}

    def save_pretrained(self, save_directory: str | os.PathLike, **kwargs):
        """Saves model, tokenizer and, unlike `Pipeline.save_pretrained`, the processor (video processor and chat
        template), so `pipeline("video-summarization", model=save_directory)` works from the saved folder; then
        runs `SAVE_HOOKS` (the V2Xum package adds the folder's model card)."""
        super().save_pretrained(save_directory, **kwargs)
        self.processor.save_pretrained(save_directory, **kwargs)
        for hook in SAVE_HOOKS:
            hook(self, save_directory)


def _positive(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    return value


def _window_seconds(window_seconds, frames_per_window, fps) -> float | None:
    """`window_seconds`, or `frames_per_window / fps`; checked."""
    if frames_per_window is not None:
        if not fps or window_seconds is not None:
            raise ValueError(
                "frames_per_window needs fps (the window is frames_per_window / fps seconds), and replaces "
                "window_seconds"
            )
        window_seconds = frames_per_window / fps
    return None if window_seconds is None else _positive(window_seconds, "window_seconds")


__all__ = ["VideoSummarizationPipeline"]
