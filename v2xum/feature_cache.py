# Copyright 2026 The V2Xum Authors. Licensed under the Apache License, Version 2.0.
"""Cached vision-tower features: run the frozen tower once per video, then train from the cache.

A cache folder holds `cache_info.json` (what the features were computed with, and per video its shard, key and
frame timeline) and `features-NNNNN.safetensors` shards of `(frames, tokens_per_frame, dim)` float32 tensors. A cache
made with another tower (weights hash), feature mode, frame count, decode mode or image preprocessing is refused.
"""

import hashlib
import json
import os

import torch
from safetensors.torch import load_file, save_file

from processing import SampledFrames


CACHE_INFO = "cache_info.json"
VIDEOS_PER_SHARD = 256


def vision_tower_fingerprint(model) -> str:
    """sha256 of the vision tower's weights (float32 bytes, sorted names): a changed tower means a stale cache."""
    digest = hashlib.sha256()
    tower = model.model.vision_tower if hasattr(model, "model") else model.vision_tower
    for name, tensor in sorted(tower.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return digest.hexdigest()


def cache_settings(model, processor, num_frames: int | None, decode_mode: str) -> dict:
    """Everything the cached features depend on; two caches with equal settings hold interchangeable features.
    `num_frames` defaults to the video processor's."""
    video_processor = processor.video_processor
    num_frames = num_frames or video_processor.num_frames
    return {
        "vision_tower_sha256": vision_tower_fingerprint(model),
        "vision_feature_mode": model.config.vision_feature_mode,
        "vision_feature_layer": model.config.vision_feature_layer,
        "pooled_patch_grid": model.config.pooled_patch_grid,
        "num_frames": num_frames,
        "decode_mode": decode_mode,
        "size": dict(video_processor.size),
        "crop_size": dict(video_processor.crop_size),
        "image_mean": list(video_processor.image_mean),
        "image_std": list(video_processor.image_std),
    }


class VideoFeatureCache:
    """Read access to a cache folder: `get(video_path) -> (features, SampledFrames)`."""

    def __init__(self, cache_dir: str | os.PathLike, expected_settings: dict | None = None):
        self.cache_dir = os.fspath(cache_dir)
        info_path = os.path.join(self.cache_dir, CACHE_INFO)
        if not os.path.isfile(info_path):
            raise FileNotFoundError(
                f"{self.cache_dir} is not a feature cache (no {CACHE_INFO}); make one with `v2xum cache-features`"
            )
        with open(info_path, encoding="utf-8") as f:
            self.info = json.load(f)
        if expected_settings is not None:
            stale = [
                f"{key}: cache has {self.info['settings'].get(key)!r}, training uses {value!r}"
                for key, value in expected_settings.items()
                if self.info["settings"].get(key) != value
            ]
            if stale:
                raise ValueError(
                    f"Stale feature cache {self.cache_dir} (made from {self.info['model']}): "
                    + "; ".join(stale)
                    + ". Rebuild it with `v2xum cache-features`."
                )
        self._shards: dict[str, dict[str, torch.Tensor]] = {}

    def __contains__(self, video: str) -> bool:
        return os.path.abspath(video) in self.info["videos"]

    def get(self, video: str) -> tuple[torch.Tensor, SampledFrames]:
        entry = self.info["videos"].get(os.path.abspath(video))
        if entry is None:
            raise KeyError(f"Video {video} is not in the feature cache {self.cache_dir}; rebuild the cache")
        if entry["shard"] not in self._shards:
            self._shards[entry["shard"]] = load_file(os.path.join(self.cache_dir, entry["shard"]))
        timeline = SampledFrames(tuple(entry["timestamps"]), tuple(entry["frame_indices"]), entry["duration"])
        return self._shards[entry["shard"]][entry["key"]], timeline


def open_feature_cache(
    cache_dir, model, processor, num_frames: int | None, decode_mode: str, videos
) -> VideoFeatureCache:
    """The cache for training `model` on `videos`: refused when stale (other settings) or when a video is missing."""
    cache = VideoFeatureCache(cache_dir, expected_settings=cache_settings(model, processor, num_frames, decode_mode))
    uncached = sorted({v for v in videos if v not in cache})
    if uncached:
        raise ValueError(
            f"{len(uncached)} training video(s) are not in the feature cache {cache_dir}, e.g. {uncached[:3]}; "
            "rebuild it with `v2xum cache-features`"
        )
    return cache


@torch.no_grad()
def build_feature_cache(
    model,
    processor,
    videos: list[str],
    cache_dir: str | os.PathLike,
    num_frames: int | None = None,
    decode_mode: str = "exact",
    model_id: str | None = None,
    progress: bool = True,
) -> VideoFeatureCache:
    """Runs the vision tower over each video (once; repeated paths are skipped) and writes the cache folder."""
    from tqdm.auto import tqdm

    cache_dir = os.fspath(cache_dir)
    os.makedirs(cache_dir, exist_ok=True)
    device = next(model.parameters()).device
    entries, shard, shard_index = {}, {}, 0

    def flush():
        nonlocal shard, shard_index
        if shard:
            save_file(shard, os.path.join(cache_dir, f"features-{shard_index:05d}.safetensors"))
            shard, shard_index = {}, shard_index + 1

    frames = {"num_frames": num_frames} if num_frames else {}
    unique = list(dict.fromkeys(os.path.abspath(v) for v in videos))
    for path in tqdm(unique, desc="caching features", unit="video", disable=not progress or None):
        inputs = processor.video_processor(
            videos=[path], decode_mode=decode_mode, return_metadata=True, return_tensors="pt", **frames
        )
        metadata = inputs["video_metadata"][0]
        pixels = inputs["pixel_values_videos"].to(device, model.dtype)
        features = model.model.get_video_tower_features(pixels)[0].float().cpu().contiguous()
        key = f"v{len(entries):06d}"
        shard[key] = features
        entries[path] = {
            "shard": f"features-{shard_index:05d}.safetensors",
            "key": key,
            "timestamps": list(metadata.timestamps),
            "frame_indices": [int(i) for i in metadata.frames_indices],
            "duration": metadata.duration,
        }
        if len(shard) == VIDEOS_PER_SHARD:
            flush()
    flush()
    info = {
        "format": 1,
        "model": model_id or model.config._name_or_path,
        "settings": cache_settings(model, processor, num_frames, decode_mode),
        "videos": entries,
    }
    with open(os.path.join(cache_dir, CACHE_INFO), "w", encoding="utf-8") as f:
        json.dump(info, f, indent=1)
    return VideoFeatureCache(cache_dir)


__all__ = [
    "VideoFeatureCache",
    "build_feature_cache",
    "open_feature_cache",
    "cache_settings",
    "vision_tower_fingerprint",
]
