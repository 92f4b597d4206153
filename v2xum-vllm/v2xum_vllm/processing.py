"""V2Xum's input processing inside vLLM: frames decoded as the package decodes them, preprocessed to the same pixels,
and each video placeholder replaced by `[f00]<frame>... [f01]<frame>...` (only `<frame>` positions get features).

A V2Xum prompt names each video with one placeholder token, the model's frame placeholder (`<frame>`): vLLM replaces
token ids, and the package's text marker `<video>` is not a token of every vocabulary. `chat_template` (the
checkpoint's template with that marker swapped) writes it for chat requests.
"""

import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import Any

import numpy as np
import torch
from transformers import AutoTokenizer, BatchFeature, ProcessorMixin
from transformers.image_transforms import get_resize_output_image_size
from transformers.image_utils import ChannelDimension
from transformers.utils import cached_file
from vllm.config.multimodal import BaseDummyOptions
from vllm.multimodal.inputs import MultiModalFieldConfig, MultiModalKwargsItems
from vllm.multimodal.parse import MultiModalDataItems, MultiModalDataParser
from vllm.multimodal.processing import (
    BaseDummyInputsBuilder,
    BaseMultiModalProcessor,
    BaseProcessingInfo,
    PromptReplacement,
    PromptUpdate,
    PromptUpdateDetails,
)
from vllm.multimodal.video import VIDEO_LOADER_REGISTRY, VideoLoader

from .checkpoint_code.processing_v2xum import CHAT_TEMPLATE, QUERY_TEMPLATE, TASK_INSTRUCTIONS
from .checkpoint_code.summary import frame_token
from .checkpoint_code.video_decoding import check_plain_media, decode_video


VIDEO_MARKER = "<video>"  # the package's per-video text marker (`V2XumProcessor.video_token`)


def pixel_values(frames: np.ndarray | torch.Tensor, video_config: Mapping[str, Any]) -> torch.Tensor:
    """`(T, H, W, 3)` uint8 frames -> `(T, 3, h, w)` float32, as the package's `V2XumVideoProcessor` makes them
    (transformers' torchvision backend: shortest-edge resize with antialiased bicubic when the size differs, centre
    crop, rescale and normalize fused into one normalize). Frames decoded by `decode_video` at the model's shortest
    edge are not resized, as in the package."""
    video = torch.as_tensor(np.ascontiguousarray(frames)).permute(0, 3, 1, 2)
    if video.shape[1] == 1:
        video = video.expand(-1, 3, -1, -1)
    if video_config.get("do_resize", True) and (edge := video_config.get("size", {}).get("shortest_edge")):
        size = get_resize_output_image_size(
            video[0], size=edge, default_to_square=False, input_data_format=ChannelDimension.FIRST
        )
        if tuple(size) != tuple(video.shape[-2:]):
            video = torch.nn.functional.interpolate(
                video.contiguous(), size=list(size), mode="bicubic", align_corners=False, antialias=True
            )
    if video_config.get("do_center_crop", True):
        video = _center_crop(video, video_config["crop_size"]["height"], video_config["crop_size"]["width"])
    scale = video_config.get("rescale_factor", 1 / 255) if video_config.get("do_rescale", True) else 1.0
    video = video.to(torch.float32)
    if video_config.get("do_normalize", True):
        mean = torch.tensor(video_config["image_mean"]) * (1.0 / scale)
        std = torch.tensor(video_config["image_std"]) * (1.0 / scale)
        return video.sub_(mean[:, None, None]).div_(std[:, None, None])
    return video * scale


def _center_crop(video: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """transformers' `center_crop` (torchvision backend): zero padding when smaller, then the centre."""
    image_height, image_width = video.shape[-2:]
    if width > image_width or height > image_height:
        pad_w, pad_h = max(width - image_width, 0), max(height - image_height, 0)
        video = torch.nn.functional.pad(video, (pad_w // 2, (pad_w + 1) // 2, pad_h // 2, (pad_h + 1) // 2))
        image_height, image_width = video.shape[-2:]
    top, left = int((image_height - height) / 2.0), int((image_width - width) / 2.0)
    return video[..., top : top + height, left : left + width]


class V2XumProcessor(ProcessorMixin):
    """The checkpoint's processor as vLLM needs it (registered for `V2XumConfig`, so `AutoProcessor` finds it
    without remote code): the tokenizer, the video processor's settings, the one-placeholder chat template, the
    prompt replacement and the frame preprocessing."""

    attributes = ["tokenizer"]
    tokenizer_class = "AutoTokenizer"

    def __init__(self, tokenizer=None, chat_template: str | None = None, settings: dict | None = None):
        """`settings`: the checkpoint's `processor_config.json` (the video processor's settings under
        `video_processor`)."""
        settings = settings or {}
        self.video_config = dict(settings.get("video_processor") or {})
        self.frame_placeholder_token = settings.get("frame_placeholder_token", "<frame>")
        self.num_frame_tokens = settings.get("num_frame_tokens", 100)
        self.num_video_tokens_per_frame = settings.get("num_video_tokens_per_frame", 1)
        self.temporal_prompt_style = settings.get("temporal_prompt_style", "special")
        self.video_token = settings.get("video_token", VIDEO_MARKER)
        template = (chat_template or CHAT_TEMPLATE).replace(self.video_token, self.frame_placeholder_token)
        super().__init__(tokenizer, chat_template=template)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, **kwargs) -> "V2XumProcessor":
        """Reads the checkpoint's tokenizer (with its chat template) and `processor_config.json`."""
        hub = {key: kwargs[key] for key in ("revision", "cache_dir", "token", "local_files_only") if key in kwargs}
        tokenizer = AutoTokenizer.from_pretrained(pretrained_model_name_or_path, **hub)
        config_file = cached_file(pretrained_model_name_or_path, "processor_config.json", **hub)
        with open(config_file, encoding="utf-8") as f:
            settings = json.load(f)
        return cls(tokenizer, getattr(tokenizer, "chat_template", None), settings)

    @property
    def placeholder_id(self) -> int:
        return self.tokenizer.convert_tokens_to_ids(self.frame_placeholder_token)

    @property
    def num_frames(self) -> int:
        """Frames sampled per video by default (the video processor's `num_frames`)."""
        return int(self.video_config.get("num_frames", 100))

    @property
    def shortest_edge(self) -> int | None:
        if not self.video_config.get("do_resize", True):
            return None
        return self.video_config.get("size", {}).get("shortest_edge")

    def video_prompt_ids(self, num_frames: int) -> list[int]:
        """Token ids of one video of `num_frames` frames: `[f00]<frame>...` (each temporal prompt tokenized on its
        own, as the package's `tokenize_prompts` does)."""
        if num_frames > self.num_frame_tokens:
            raise ValueError(
                f"{num_frames} frames given, but this model has {self.num_frame_tokens} frame tokens: sample at most "
                f"{self.num_frame_tokens} frames"
            )
        placeholders = [self.placeholder_id] * self.num_video_tokens_per_frame
        ids = []
        for frame in range(num_frames):
            token = frame_token(frame, self.temporal_prompt_style, self.num_frame_tokens)
            ids += self.tokenizer(token, add_special_tokens=False)["input_ids"] + placeholders
        return ids

    def prompt(self, task: str = "both", query: str | None = None) -> str:
        """The chat prompt for one video: the released instruction for `task`, optionally focused on `query`."""
        if task not in TASK_INSTRUCTIONS:
            raise ValueError(f"task must be one of {', '.join(TASK_INSTRUCTIONS)}, got {task!r}")
        instruction = TASK_INSTRUCTIONS[task] + (QUERY_TEMPLATE.format(query=query.strip()) if query else "")
        content = [{"type": "video"}, {"type": "text", "text": instruction}]
        messages = [{"role": "user", "content": content}]
        return self.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    def video_request(
        self, video: str | os.PathLike, task: str = "both", num_frames: int | None = None, query: str | None = None
    ) -> dict:
        """An offline `LLM.generate` input for a video file: the prompt and the frames the package samples
        (`decode_video`, `num_frames` defaulting to the model's), with their metadata."""
        decoded = decode_video(video, num_frames or self.num_frames, "exact", None, self.shortest_edge)
        return {"prompt": self.prompt(task, query), "multi_modal_data": {"video": video_item(decoded)}}

    def __call__(self, text=None, videos=None, **kwargs) -> BatchFeature:
        """Tokenizes `text` and preprocesses `videos` (`(frames, metadata)` pairs or frame arrays) into one
        `(T, 3, h, w)` tensor per video."""
        data = {}
        if text is not None:
            data.update(self.tokenizer(text, add_special_tokens=False))
        if videos is not None:
            frames = [video[0] if isinstance(video, tuple) else video for video in videos]
            data["pixel_values_videos"] = [pixel_values(f, self.video_config) for f in frames]
        return BatchFeature(data)


class V2XumProcessingInfo(BaseProcessingInfo):
    def get_hf_processor(self, **kwargs: object) -> V2XumProcessor:
        processor = self.ctx.get_hf_processor(V2XumProcessor, **kwargs)
        V2XumVideoLoader.shortest_edge = processor.shortest_edge  # files are decoded in this process, at this size
        return processor

    def get_supported_mm_limits(self) -> Mapping[str, int | None]:
        return {"video": None}

    def get_supported_mm_processor_kwargs(self) -> dict[str, set[str]]:
        return {"text_kwargs": set(), "videos_kwargs": set()}

    def get_data_parser(self) -> MultiModalDataParser:
        return MultiModalDataParser(video_needs_metadata=False)

    @cached_property
    def max_frames(self) -> int:
        return self.get_hf_processor().num_frame_tokens

    def get_mm_max_tokens_per_item(self, seq_len: int, mm_counts: Mapping[str, int]) -> Mapping[str, int]:
        return {"video": len(self.get_hf_processor().video_prompt_ids(self.max_frames))}


class V2XumDummyInputsBuilder(BaseDummyInputsBuilder[V2XumProcessingInfo]):
    def get_dummy_text(self, mm_counts: Mapping[str, int]) -> str:
        return self.info.get_hf_processor().frame_placeholder_token * mm_counts.get("video", 0)

    def get_dummy_mm_data(
        self, seq_len: int, mm_counts: Mapping[str, int], mm_options: Mapping[str, BaseDummyOptions] | None = None
    ):
        crop = self.info.get_hf_processor().video_config.get("crop_size", {"height": 224, "width": 224})
        videos = self._get_dummy_videos(
            width=crop["width"],
            height=crop["height"],
            num_frames=self.info.max_frames,
            num_videos=mm_counts.get("video", 0),
            overrides=(mm_options or {}).get("video"),
        )
        return {"video": videos}


class V2XumMultiModalProcessor(BaseMultiModalProcessor[V2XumProcessingInfo]):
    def _get_mm_fields_config(
        self, hf_inputs: BatchFeature, hf_processor_mm_kwargs: Mapping[str, object]
    ) -> Mapping[str, MultiModalFieldConfig]:
        return {"pixel_values_videos": MultiModalFieldConfig.batched("video")}

    def _get_prompt_updates(
        self,
        mm_items: MultiModalDataItems,
        hf_processor_mm_kwargs: Mapping[str, object],
        out_mm_kwargs: MultiModalKwargsItems,
    ) -> Sequence[PromptUpdate]:
        processor = self.info.get_hf_processor()
        placeholder = processor.placeholder_id

        def replacement(item_index: int) -> PromptUpdateDetails:
            frames = out_mm_kwargs["video"][item_index]["pixel_values_videos"].data.shape[0]
            return PromptUpdateDetails.select_token_id(processor.video_prompt_ids(frames), placeholder)

        return [PromptReplacement(modality="video", target=[placeholder], replacement=replacement)]


@VIDEO_LOADER_REGISTRY.register("v2xum", video_processor="V2XumVideoProcessor")
class V2XumVideoLoader(VideoLoader):
    """Video files and URLs as the package decodes them (`decode_video`: exact frames sampled by the released rule,
    converted straight to the model's shortest edge), plain media only (no playlists or image patterns). Options
    (`--media-io-kwargs '{"video": {...}}'` or per request): `num_frames`, `fps`, `decode_mode`."""

    shortest_edge: int | None = None

    @classmethod
    def load_bytes(cls, data: bytes, num_frames: int = -1, **kwargs) -> tuple[np.ndarray, dict[str, Any]]:
        fps, mode = kwargs.get("fps"), kwargs.get("decode_mode", "exact")
        with tempfile.TemporaryDirectory(prefix="v2xum-vllm-") as folder:
            path = os.path.join(folder, "video")
            with open(path, "wb") as f:
                f.write(data)
            check_plain_media(path)
            video = decode_video(path, num_frames if num_frames > 0 else None, mode, fps, cls.shortest_edge)
        return video_item(video)


def video_item(video) -> tuple[np.ndarray, dict[str, Any]]:
    """A decoded video as vLLM takes one: its frames and their metadata (times of the sampled frames included)."""
    metadata = {
        "total_num_frames": video.total_num_frames,
        "fps": video.fps,
        "duration": video.duration,
        "video_backend": "v2xum",
        "frames_indices": list(video.frame_indices),
        "timestamps": list(video.timestamps),
        "do_sample_frames": False,
    }
    return video.frames, metadata


__all__ = [
    "V2XumDummyInputsBuilder",
    "V2XumMultiModalProcessor",
    "V2XumProcessingInfo",
    "V2XumProcessor",
    "V2XumVideoLoader",
    "pixel_values",
    "video_item",
]
