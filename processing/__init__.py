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
    parse_summary,
    render_answer,
)
from .video_decoding import DecodedVideo, VideoDecodingError, decode_video, uniform_frame_indices
from .video_processing_v2xum import V2XumVideoMetadata, V2XumVideoProcessor


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
    "SUMMARY_TASKS",
    "GRID_SIZE",
    "SYSTEM_PROMPT",
    "TASK_INSTRUCTIONS",
    "CHAT_TEMPLATE",
]
