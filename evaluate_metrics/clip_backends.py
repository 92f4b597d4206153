# Copyright 2026 The V2Xum Authors. Licensed under the Apache License, Version 2.0.
"""CLIP image and text embeddings for the metrics, from transformers' `CLIPModel` or from open_clip."""

import os

import numpy as np
import torch
from PIL import Image


DEFAULT_CLIP = "openai/clip-vit-large-patch14"


class ClipEmbedder:
    """Batched, L2-normalised CLIP embeddings of images and texts.

    Args:
        model_name_or_path: a transformers CLIP checkpoint (Hub id or local folder; default
            `openai/clip-vit-large-patch14`), or for `backend="open_clip"` an open_clip model name (`ViT-L-14`).
        backend: `"transformers"`, `"open_clip"`, or `"v2xum_tower"` (images only: the vision tower of a V2Xum
            checkpoint, its projected image embedding or pooled output; `has_text` is False).
        pretrained: open_clip only: a pretrained tag (`openai`) or a local checkpoint file; None for random weights.
        device: `cpu`, `cuda`, ... (default: CUDA when present).
        batch_size: images or texts per forward pass.
        progress: show a progress bar while embedding.
    """

    def __init__(
        self,
        model_name_or_path: str = DEFAULT_CLIP,
        backend: str = "transformers",
        pretrained: str | None = None,
        device: str | None = None,
        batch_size: int = 32,
        progress: bool = False,
    ):
        if backend not in ("transformers", "open_clip", "v2xum_tower"):
            raise ValueError(f"backend must be 'transformers', 'open_clip' or 'v2xum_tower', got {backend!r}")
        self.backend = backend
        self.name = model_name_or_path if pretrained is None else f"{model_name_or_path}:{pretrained}"
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.batch_size = batch_size
        self.progress = progress
        self.has_text = backend != "v2xum_tower"
        if backend == "v2xum_tower":
            from transformers import AutoModelForImageTextToText, AutoProcessor

            # A V2Xum checkpoint carries its own code: it loads with or without the V2Xum package installed.
            model = AutoModelForImageTextToText.from_pretrained(model_name_or_path, trust_remote_code=True)
            self.model = model.model.vision_tower.to(self.device).eval()
            processor = AutoProcessor.from_pretrained(model_name_or_path, trust_remote_code=True)
            self.video_processor = processor.video_processor
        elif backend == "transformers":
            from transformers import AutoImageProcessor, AutoTokenizer, CLIPModel

            self.model = CLIPModel.from_pretrained(model_name_or_path).to(self.device).eval()
            self.image_processor = AutoImageProcessor.from_pretrained(model_name_or_path)
            self.tokenizer = AutoTokenizer.from_pretrained(model_name_or_path)
        else:
            import open_clip

            self.model, _, self.preprocess = open_clip.create_model_and_transforms(
                model_name_or_path, pretrained=pretrained, device=self.device
            )
            self.model.eval()
            self.tokenizer = open_clip.get_tokenizer(model_name_or_path)

    def _batches(self, items: list, what: str):
        from tqdm.auto import tqdm

        starts = range(0, len(items), self.batch_size)
        for start in tqdm(starts, desc=f"CLIP {what}", disable=not self.progress or None, leave=False):
            yield items[start : start + self.batch_size]

    @torch.no_grad()
    def embed_images(self, images: list) -> np.ndarray:
        """`images`: PIL images, `(H, W, 3)` uint8 arrays or image file paths. Returns `(N, D)` float32."""
        images = [_as_pil(image) for image in images]
        outputs = []
        for batch in self._batches(images, "images"):
            if self.backend == "v2xum_tower":
                frames = [np.asarray(image) for image in batch]
                pixels = torch.cat(
                    [
                        self.video_processor(videos=[frame[None]], do_sample_frames=False, return_tensors="pt")[
                            "pixel_values_videos"
                        ][0]
                        for frame in frames
                    ]
                ).to(self.device)
                tower = self.model(pixel_values=pixels)
                features = getattr(tower, "image_embeds", None)
                features = tower.pooler_output if features is None else features
            elif self.backend == "transformers":
                pixels = self.image_processor(images=batch, return_tensors="pt")["pixel_values"].to(self.device)
                features = self.model.get_image_features(pixel_values=pixels)
            else:
                pixels = torch.stack([self.preprocess(image) for image in batch]).to(self.device)
                features = self.model.encode_image(pixels)
            outputs.append(_normalised(features))
        return np.concatenate(outputs) if outputs else np.zeros((0, self.dim), dtype=np.float32)

    @torch.no_grad()
    def embed_texts(self, texts: list[str]) -> np.ndarray:
        """Returns `(N, D)` float32; texts longer than the model's context are truncated."""
        if not self.has_text:
            raise NotImplementedError("the v2xum_tower backend embeds images only")
        outputs = []
        for batch in self._batches(list(texts), "texts"):
            if self.backend == "transformers":
                limit = self.model.config.text_config.max_position_embeddings
                tokens = self.tokenizer(batch, padding=True, truncation=True, max_length=limit, return_tensors="pt")
                features = self.model.get_text_features(
                    input_ids=tokens["input_ids"].to(self.device),
                    attention_mask=tokens["attention_mask"].to(self.device),
                )
            else:
                features = self.model.encode_text(self.tokenizer(batch).to(self.device))
            outputs.append(_normalised(features))
        return np.concatenate(outputs) if outputs else np.zeros((0, self.dim), dtype=np.float32)

    @property
    def dim(self) -> int:
        if self.backend == "v2xum_tower":
            return getattr(self.model.config, "projection_dim", None) or self.model.config.hidden_size
        if self.backend == "transformers":
            return self.model.config.projection_dim
        return self.model.text_projection.shape[1]


class ClipMetricMixin:
    """For `evaluate` metrics that take embeddings or raw images/texts: module arguments `clip_model`,
    `clip_backend`, `clip_pretrained`, `device`, `batch_size`; CLIP is loaded on first use only."""

    def __init__(
        self,
        clip_model: str = DEFAULT_CLIP,
        clip_backend: str = "transformers",
        clip_pretrained: str | None = None,
        device: str | None = None,
        batch_size: int = 32,
        **kwargs,
    ):
        self.clip_options = {
            "model_name_or_path": clip_model,
            "backend": clip_backend,
            "pretrained": clip_pretrained,
            "device": device,
            "batch_size": batch_size,
        }
        self._embedder = None
        super().__init__(**kwargs)

    @property
    def embedder(self) -> ClipEmbedder:
        if self._embedder is None:
            self._embedder = ClipEmbedder(**self.clip_options)
        return self._embedder

    def as_embeddings(self, items) -> np.ndarray:
        """Embeddings as given, or CLIP embeddings of strings (texts) or images."""
        if not len(items):
            return np.zeros((0, 0))
        if isinstance(items[0], str):
            return self.embedder.embed_texts(list(items))
        if not isinstance(items[0], (list, tuple, np.ndarray)):
            return self.embedder.embed_images(list(items))
        return np.asarray(items, dtype=np.float64)


def _normalised(features) -> np.ndarray:
    features = getattr(features, "pooler_output", features)  # transformers 5 may return a model output
    features = features.float()
    return (features / features.norm(dim=-1, keepdim=True).clamp_min(1e-12)).cpu().numpy()


def _as_pil(image) -> Image.Image:
    if isinstance(image, Image.Image):
        return image.convert("RGB")
    if isinstance(image, (str, os.PathLike)):
        return Image.open(image).convert("RGB")
    return Image.fromarray(np.asarray(image, dtype=np.uint8)).convert("RGB")


__all__ = ["ClipEmbedder", "ClipMetricMixin", "DEFAULT_CLIP"]
