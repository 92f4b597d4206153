"""Summaries from a vLLM server that runs the `v2xum-vllm` plugin, as `VideoSummary` objects: one OpenAI chat request
per video (a `video_url` part and the task's released instruction, greedy, `[fNN]` kept), and the answer parsed with
the package's parser against the frames the server sampled (the same rule on the same file: `video_timeline` and
`sample_frame_indices`, read from the file's index without decoding it)."""

import base64
import json
import mimetypes
import os
import urllib.error
import urllib.request
from pathlib import Path

from processing import SUMMARY_TASKS, TASK_INSTRUCTIONS, VideoSummary
from processing.summary import parse_summary
from processing.timeline import SampledFrames, sample_frame_indices
from processing.video_decoding import is_url, video_timeline


# vLLM's own frame count for a video (`VideoMediaIO`), unless the server sets one (`--media-io-kwargs`).
DEFAULT_NUM_FRAMES = 32


def served_model(base_url: str, timeout: float = 30) -> str:
    """The id of the model a vLLM (or any OpenAI-compatible) server serves."""
    with urllib.request.urlopen(f"{base_url.rstrip('/')}/v1/models", timeout=timeout) as answer:
        return json.load(answer)["data"][0]["id"]


def video_url(video: str | os.PathLike, send: str = "file") -> str:
    """How the server gets the video: a URL as it is; a local file as a `file://` URL (the server must share the
    filesystem and allow the folder: `--allowed-local-media-path`) or, with `send="data"`, inline as a data URL."""
    if isinstance(video, str) and is_url(video):
        return video
    path = Path(video).resolve()
    if send == "file":
        return path.as_uri()
    if send != "data":
        raise ValueError(f"send must be 'file' or 'data', got {send!r}")
    media_type = mimetypes.guess_type(path.name)[0] or "video/mp4"
    return f"data:{media_type};base64,{base64.b64encode(path.read_bytes()).decode()}"


def chat_request(
    model: str, url: str, task: str, num_frames: int | None, max_keyframes: int | None, max_tokens: int
) -> dict:
    """The request body: the released instruction for `task`, the rule's options in `vllm_xargs`, and the frame
    count when one is asked for (a server takes it only with `--trust-request-mm-kwargs`)."""
    if task not in SUMMARY_TASKS:
        raise ValueError(f"task must be one of {', '.join(SUMMARY_TASKS)}, got {task!r}")
    content = [{"type": "video_url", "video_url": {"url": url}}, {"type": "text", "text": TASK_INSTRUCTIONS[task]}]
    rule = {"v2xum_task": task} | ({"max_keyframes": max_keyframes} if max_keyframes is not None else {})
    body = {
        "model": model,
        "messages": [{"role": "user", "content": content}],
        "temperature": 0,
        "max_tokens": max_tokens,
        "skip_special_tokens": False,
        "vllm_xargs": rule,
    }
    return body | ({"media_io_kwargs": {"video": {"num_frames": num_frames}}} if num_frames else {})


def sampled_frames(video: str | os.PathLike, num_frames: int) -> SampledFrames:
    """The frames the plugin's loader samples from `video` (its timeline, without decoding a frame)."""
    timeline = video_timeline(video)
    indices = sample_frame_indices(timeline.timestamps, num_frames)
    return SampledFrames(tuple(timeline.timestamps[i] for i in indices), tuple(indices), timeline.duration)


def summary_of_answer(answer: str, video: str | os.PathLike, task: str, num_frames: int) -> VideoSummary:
    """A vLLM answer (with its `[fNN]`) for `video` sampled at `num_frames`, parsed by the package's parser."""
    return parse_summary(answer.strip(), sampled_frames(video, num_frames), task)


def summarize_with_vllm(
    base_url: str,
    video: str | os.PathLike,
    task: str = "both",
    *,
    num_frames: int | None = None,
    server_num_frames: int = DEFAULT_NUM_FRAMES,
    max_keyframes: int | None = None,
    max_tokens: int = 256,
    send: str = "file",
    model: str | None = None,
    timeout: float = 300,
) -> VideoSummary:
    """One video's summary from the vLLM server at `base_url`. `num_frames`: frames to sample for this request
    (the server must trust request media options); else the server samples `server_num_frames` (its
    `--media-io-kwargs`, vLLM's 32 by default; the model's own count is its video processor's `num_frames`). A
    refused request raises `ValueError` with the server's message."""
    body = chat_request(
        model or served_model(base_url, timeout), video_url(video, send), task, num_frames, max_keyframes, max_tokens
    )
    request = urllib.request.Request(
        f"{base_url.rstrip('/')}/v1/chat/completions",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            completion = json.load(answer)
    except urllib.error.HTTPError as error:
        raise ValueError(f"{video}: the server refused the request ({error.code}): {error.read().decode()}") from None
    answer = completion["choices"][0]["message"]["content"]
    return summary_of_answer(answer, video, task, num_frames or server_num_frames)


__all__ = [
    "DEFAULT_NUM_FRAMES",
    "chat_request",
    "sampled_frames",
    "served_model",
    "summarize_with_vllm",
    "summary_of_answer",
    "video_url",
]
