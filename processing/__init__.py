# Copyright 2026 The V2Xum Authors. Licensed under the Apache License, Version 2.0.
"""V2Xum input and output: video decoding, time (sampling, timelines), the processor, and summaries with real
seconds."""

from .processing_v2xum import CHAT_TEMPLATE, SYSTEM_PROMPT, TASK_INSTRUCTIONS, V2XumProcessor
from .summary import (
    SUMMARY_TASKS,
    Keyframe,
    SummarySentence,
    VideoSummary,
    frame_token,
    keyframe_reference,
    parse_summary,
    render_answer,
)
from .timeline import (
    GRID_SIZE,
    SampledFrames,
    VideoTimeline,
    duration_from_timestamps,
    grid_to_seconds,
    sample_frame_indices,
    seconds_to_grid,
    uniform_frame_indices,
    window_spans,
)
from .video_decoding import DecodedVideo, VideoDecodingError, decode_video
from .video_processing_v2xum import V2XumVideoMetadata, V2XumVideoProcessor, pad_videos


__all__ = [
    "V2XumProcessor",
    "V2XumVideoProcessor",
    "V2XumVideoMetadata",
    "DecodedVideo",
    "VideoDecodingError",
    "decode_video",
    "uniform_frame_indices",
    "SampledFrames",
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
    "sample_frame_indices",
    "window_spans",
    "VideoTimeline",
    "pad_videos",
    "SUMMARY_TASKS",
    "GRID_SIZE",
    "SYSTEM_PROMPT",
    "TASK_INSTRUCTIONS",
    "CHAT_TEMPLATE",
]
