# Copyright 2026 The V2Xum Authors. Licensed under the Apache License, Version 2.0.
"""Keyframe-constrained decoding for V2Xum."""

import torch
from transformers import LogitsProcessor


class KeyframeLogitsProcessor(LogitsProcessor):
    r"""
    Restricts generated temporal prompt tokens (`[f00]..[f99]`, a contiguous id range) to keyframes that make sense:
    frames present in the row's prompt, in strictly increasing order, at most `max_keyframes` of them; with
    `allow_keyframes=False` (the TEXT task) no frame token at all. The visual placeholder token is never allowed.

    Vectorized over the batch (one mask per step), like `WhisperTimeStampLogitsProcessor`. Works with left padding
    (the prompt length is the padded length), beam search and `num_return_sequences`.

    Args:
        frame_token_start_id (`int`): id of `[f00]`.
        num_frame_tokens (`int`): size of the frame token range.
        prompt_length (`int`): length of the prompt in `input_ids`; frames named before it are the allowed ones.
            0 allows every frame (for example when generating from `inputs_embeds`).
        allow_keyframes (`bool`, defaults to `True`): `False` forbids frame tokens entirely.
        max_keyframes (`int`, *optional*): maximum number of frame tokens per sequence.
        video_token_id (`int`, *optional*): the placeholder token, always forbidden.
        min_keyframes (`int`, defaults to 0): end-of-sequence is forbidden until a row has this many frame tokens
            (VIDEO and BOTH answers name at least one keyframe); needs `eos_token_id`.
        eos_token_id (`int` or `list[int]`, *optional*): the end-of-sequence token(s).
    """

    def __init__(
        self,
        frame_token_start_id: int,
        num_frame_tokens: int,
        prompt_length: int,
        allow_keyframes: bool = True,
        max_keyframes: int | None = None,
        video_token_id: int | None = None,
        min_keyframes: int = 0,
        eos_token_id: int | list[int] | None = None,
    ):
        if max_keyframes is not None and max_keyframes < 0:
            raise ValueError(f"max_keyframes must be >= 0, got {max_keyframes}")
        if max_keyframes is not None:
            min_keyframes = min(min_keyframes, max_keyframes)
        self.min_keyframes = min_keyframes if allow_keyframes else 0
        self.eos_token_ids = [eos_token_id] if isinstance(eos_token_id, int) else list(eos_token_id or [])
        self.start = frame_token_start_id
        self.num_frames = num_frame_tokens
        self.prompt_length = prompt_length
        self.allow_keyframes = allow_keyframes
        self.max_keyframes = max_keyframes
        self.video_token_id = video_token_id

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        scores = scores.clone()
        frame_scores = scores[:, self.start : self.start + self.num_frames]
        if not self.allow_keyframes:
            frame_scores.fill_(-float("inf"))
        else:
            offsets = input_ids - self.start
            is_frame = (offsets >= 0) & (offsets < self.num_frames)
            safe_offsets = offsets.clamp(0, self.num_frames - 1)
            batch = input_ids.shape[0]
            frames = torch.arange(self.num_frames, device=input_ids.device)

            if self.prompt_length > 0:
                counts = torch.zeros(batch, self.num_frames, dtype=torch.long, device=input_ids.device)
                prompt = slice(0, self.prompt_length)
                counts.scatter_add_(1, safe_offsets[:, prompt], is_frame[:, prompt].long())
                allowed = counts > 0
            else:
                allowed = torch.ones(batch, self.num_frames, dtype=torch.bool, device=input_ids.device)

            generated = is_frame[:, self.prompt_length :]
            last_candidates = torch.where(generated, offsets[:, self.prompt_length :], -1)
            last = torch.cat([last_candidates, last_candidates.new_full((batch, 1), -1)], dim=1).amax(dim=1)
            allowed &= frames[None, :] > last[:, None]
            if self.max_keyframes is not None:
                allowed &= (generated.sum(dim=1) < self.max_keyframes)[:, None]
            frame_scores.masked_fill_(~allowed, -float("inf"))
            if self.min_keyframes and self.eos_token_ids:
                too_few = generated.sum(dim=1) < self.min_keyframes
                # Only while a keyframe can still come: otherwise the row must be allowed to end.
                too_few &= allowed.any(dim=1)
                for eos in self.eos_token_ids:
                    scores[too_few, eos] = -float("inf")
        if self.video_token_id is not None:
            scores[:, self.video_token_id] = -float("inf")
        return scores


__all__ = ["KeyframeLogitsProcessor"]
