# Copyright 2026 The V2Xum Authors. Licensed under the Apache License, Version 2.0.
"""V2Xum input and output: video decoding, the processor, and summaries with real seconds."""

from .processing_v2xum import CHAT_TEMPLATE, SYSTEM_PROMPT, TASK_INSTRUCTIONS, V2XumProcessor
from .summary import (
    GRID_SIZE,
    SUMMARY_TASKS,
    FrameTimeline,
    Keyframe,
    SummarySentence,
    VideoSummary,
    duration_from_timestamps,
    frame_token,
    grid_to_seconds,
    keyframe_reference,
    parse_summary,
    render_answer,
    seconds_to_grid,
)
from .video_decoding import DecodedVideo, VideoDecodingError, decode_video, uniform_frame_indices
from .video_processing_v2xum import V2XumVideoMetadata, V2XumVideoProcessor, pad_videos


__all__ = [
    "V2XumProcessor",
    "V2XumVideoProcessor",
    "V2XumVideoMetadata",
    "DecodedVideo",
    "VideoDecodingError",
    "decode_video",
    "uniform_frame_indices",
    "FrameTimeline",
    "Keyframe",
    "SummarySentence",
    "VideoSummary",
    "parse_summary",
    "render_answer",
    "frame_token",
    "keyframe_reference",
    "grid_to_seconds",
    "seconds_to_grid",
    "duration_from_timestamps",
    "pad_videos",
    "SUMMARY_TASKS",
    "GRID_SIZE",
    "SYSTEM_PROMPT",
    "TASK_INSTRUCTIONS",
    "CHAT_TEMPLATE",
]
