# Copyright 2026 The V2Xum Authors. Licensed under the Apache License, Version 2.0.
"""PyTorch V2Xum model: a vision tower, a projector and a Llama-family decoder in transformers' LLaVA layout."""

from dataclasses import dataclass

import torch
from torch import nn
from transformers import (
    AutoModel,
    CLIPVisionModelWithProjection,
    GenerationMixin,
    LogitsProcessorList,
    PreTrainedConfig,
)
from transformers.cache_utils import Cache
from transformers.modeling_outputs import BaseModelOutputWithPast, BaseModelOutputWithPooling, ModelOutput
from transformers.modeling_utils import PreTrainedModel
from transformers.models.auto.modeling_auto import MODEL_MAPPING
from transformers.processing_utils import Unpack
from transformers.utils import TransformersKwargs, can_return_tuple, logging

from .configuration_v2xum import V2XumConfig, check_vision_feature_mode
from .generation_v2xum import KeyframeLogitsProcessor
from .remote_code import save_remote_code


logger = logging.get_logger(__name__)

try:
    from transformers.modeling_utils import slice_logits_to_keep
except ImportError:  # transformers < 5.20 (the one vLLM 0.32 pins, where the vLLM plugin imports this file)

    def slice_logits_to_keep(hidden_states: torch.Tensor, logits_to_keep: int | torch.Tensor) -> torch.Tensor:
        keep = slice(-logits_to_keep, None) if isinstance(logits_to_keep, int) else logits_to_keep
        return hidden_states[:, keep, :]


@dataclass
class V2XumModelOutputWithPast(BaseModelOutputWithPast):
    r"""
    video_hidden_states (`torch.Tensor`, *optional*):
        Projected visual features written into the placeholder positions, `(num_placeholders, hidden_size)`.
    """

    video_hidden_states: torch.Tensor | None = None


@dataclass
class V2XumCausalLMOutputWithPast(ModelOutput):
    r"""
    loss (`torch.Tensor`, *optional*): next-token loss over positions whose label is not -100.
    logits (`torch.Tensor`): `(batch_size, sequence_length, vocab_size)` scores of the language modeling head.
    past_key_values (`Cache`, *optional*): the decoder's key/value cache.
    video_hidden_states (`torch.Tensor`, *optional*): projected visual features, see `V2XumModelOutputWithPast`.
    """

    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    past_key_values: Cache | None = None
    hidden_states: tuple[torch.Tensor] | None = None
    attentions: tuple[torch.Tensor] | None = None
    video_hidden_states: torch.Tensor | None = None


class V2XumMultiModalProjector(nn.Module):
    """Maps per-frame visual features to the decoder's width: one `Linear` (released model) or LLaVA's GELU MLP."""

    def __init__(self, config: V2XumConfig):
        super().__init__()
        text_hidden = config.text_config.hidden_size
        # Parts a configuration leaves out are identities (no weights: the state dict names only what exists).
        norm = config.projector_feature_norm
        self.feature_norm = nn.BatchNorm1d(config.vision_feature_dim, affine=False) if norm else nn.Identity()
        self.linear_1 = nn.Linear(config.vision_feature_dim, text_hidden, bias=config.projector_bias)
        mlp = config.projector_type == "mlp2x_gelu"
        self.act = nn.GELU() if mlp else nn.Identity()
        self.linear_2 = nn.Linear(text_hidden, text_hidden, bias=config.projector_bias) if mlp else nn.Identity()

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        features = self.feature_norm(features.flatten(0, -2)).view_as(features)
        return self.linear_2(self.act(self.linear_1(features)))


class V2XumPreTrainedModel(PreTrainedModel):
    config: V2XumConfig
    base_model_prefix = "model"
    input_modalities = ("video", "text")
    main_input_name = "input_ids"
    supports_gradient_checkpointing = True
    _skip_keys_device_placement = ["past_key_values"]
    _no_split_modules = ["LlamaDecoderLayer", "CLIPEncoderLayer"]
    _supports_flash_attn = True
    _supports_sdpa = True
    _supports_flex_attn = True
    _supports_attention_backend = True
    _can_compile_fullgraph = True

    def save_pretrained(self, save_directory, *args, **kwargs):
        """Also ships the remote code (`save_remote_code`: every file, the pipeline's included), so the folder loads
        without this package; `config.json` declares it."""
        super().save_pretrained(save_directory, *args, **kwargs)
        if kwargs.get("is_main_process", True):
            save_remote_code(save_directory)


def vision_tower_class(vision_feature_mode: str, vision_config: PreTrainedConfig) -> type[PreTrainedModel]:
    """The tower class for a feature mode: `image_embeds` needs CLIP's visual projection, which the plain vision
    model (AutoModel's choice) lacks; `patch_pooled` takes AutoModel's class for the vision config."""
    check_vision_feature_mode(vision_feature_mode, vision_config)
    if vision_feature_mode == "image_embeds":
        return CLIPVisionModelWithProjection
    return MODEL_MAPPING[type(vision_config)]


def frame_features(vision_tower: nn.Module, config: V2XumConfig, frames: torch.Tensor) -> torch.Tensor:
    """`(N, 3, H, W)` frames -> `(N, tokens_per_frame, vision_feature_dim)` features before the projector (the
    tower's `image_embeds`, or layer `vision_feature_layer`'s patches pooled to `pooled_patch_grid`^2)."""
    frames = frames.to(vision_tower.dtype)
    if config.vision_feature_mode == "image_embeds":
        return vision_tower(pixel_values=frames, return_dict=True).image_embeds[:, None, :]
    outputs = vision_tower(pixel_values=frames, output_hidden_states=True, return_dict=True)
    patches = outputs.hidden_states[config.vision_feature_layer][:, 1:]  # drop CLS
    side = int(patches.shape[1] ** 0.5)
    grid = patches.transpose(1, 2).reshape(patches.shape[0], patches.shape[2], side, side)
    pooled = nn.functional.adaptive_avg_pool2d(grid, config.pooled_patch_grid)
    return pooled.flatten(2).transpose(1, 2)


class V2XumModel(V2XumPreTrainedModel):
    """The vision tower, projector and decoder, without the language modeling head."""

    def __init__(self, config: V2XumConfig):
        super().__init__(config)
        self.vision_tower = vision_tower_class(config.vision_feature_mode, config.vision_config)._from_config(
            config.vision_config
        )
        self.multi_modal_projector = V2XumMultiModalProjector(config)
        self.language_model = AutoModel.from_config(config.text_config)
        self.post_init()

    @can_return_tuple
    def get_video_features(
        self,
        pixel_values_videos: torch.Tensor,
        video_frame_mask: torch.Tensor | None = None,
        **kwargs: Unpack[TransformersKwargs],
    ) -> tuple | BaseModelOutputWithPooling:
        r"""
        Encodes videos into projected per-frame tokens.

        Args:
            pixel_values_videos (`torch.Tensor` of shape `(num_videos, num_frames, 3, height, width)`):
                Processed frames. Videos shorter than `num_frames` are padded at the end.
            video_frame_mask (`torch.Tensor` of shape `(num_videos, num_frames)`, *optional*):
                `True` for real frames, `False` for padding; padding frames produce no tokens.

        Returns:
            `BaseModelOutputWithPooling` whose `pooler_output` is a list with one
            `(real_frames * tokens_per_frame, hidden_size)` tensor per video, in frame order.
        """
        if pixel_values_videos.ndim != 5:
            raise ValueError(
                "pixel_values_videos must have shape (num_videos, num_frames, 3, height, width), "
                f"got {tuple(pixel_values_videos.shape)}"
            )
        mask = self._frame_mask(pixel_values_videos, video_frame_mask)
        # Only real frames reach the tower.
        features = frame_features(self.vision_tower, self.config, pixel_values_videos[mask])
        return self._project(features, mask.sum(dim=1).tolist())

    def get_video_tower_features(
        self, pixel_values_videos: torch.Tensor, video_frame_mask: torch.Tensor | None = None
    ) -> list[torch.Tensor]:
        """The frozen tower's output per video, `(real_frames, tokens_per_frame, vision_feature_dim)`, before the
        projector: what `v2xum cache-features` stores, so training can skip the tower."""
        mask = self._frame_mask(pixel_values_videos, video_frame_mask)
        return list(
            torch.split(
                frame_features(self.vision_tower, self.config, pixel_values_videos[mask]), mask.sum(dim=1).tolist()
            )
        )

    def project_video_tower_features(
        self, video_tower_features: torch.Tensor, video_frame_mask: torch.Tensor | None = None
    ) -> BaseModelOutputWithPooling:
        """`get_video_features` from cached tower features `(num_videos, num_frames, tokens_per_frame, dim)`."""
        expected = (self.config.num_video_tokens_per_frame, self.config.vision_feature_dim)
        if video_tower_features.ndim != 4 or tuple(video_tower_features.shape[2:]) != expected:
            raise ValueError(
                "video_tower_features must have shape (num_videos, num_frames, "
                f"{expected[0]}, {expected[1]}) for this model, got {tuple(video_tower_features.shape)}"
            )
        mask = self._frame_mask(video_tower_features, video_frame_mask)
        features = video_tower_features[mask].to(next(self.multi_modal_projector.parameters()).dtype)
        return self._project(features, mask.sum(dim=1).tolist())

    @staticmethod
    def _frame_mask(videos: torch.Tensor, video_frame_mask: torch.Tensor | None) -> torch.Tensor:
        if video_frame_mask is None:
            return torch.ones(videos.shape[:2], dtype=torch.bool, device=videos.device)
        return video_frame_mask.to(device=videos.device, dtype=torch.bool)

    def _project(self, tower_features: torch.Tensor, frames_per_video: list[int]) -> BaseModelOutputWithPooling:
        features = self.multi_modal_projector(tower_features)
        per_video = [chunk.flatten(0, 1) for chunk in torch.split(features, frames_per_video)]
        return BaseModelOutputWithPooling(last_hidden_state=features, pooler_output=per_video)

    def get_placeholder_mask(
        self, input_ids: torch.LongTensor | None, inputs_embeds: torch.Tensor, video_features: torch.Tensor
    ) -> torch.Tensor:
        """Boolean mask of the placeholder positions, checked against the number of visual feature rows."""
        if input_ids is None:
            placeholder = self.get_input_embeddings()(
                torch.tensor(self.config.video_token_id, dtype=torch.long, device=inputs_embeds.device)
            )
            mask = (inputs_embeds == placeholder).all(-1)
        else:
            mask = input_ids == self.config.video_token_id
        n_tokens, n_features = int(mask.sum()), video_features.shape[0]
        if n_tokens != n_features:
            raise ValueError(
                f"Video features and video placeholder tokens do not match: {n_tokens} placeholder tokens in the "
                f"text, {n_features} visual feature tokens from the video(s). The processor must write "
                f"{self.config.num_video_tokens_per_frame} placeholder(s) per frame."
            )
        return mask.unsqueeze(-1).expand_as(inputs_embeds).to(inputs_embeds.device)

    @can_return_tuple
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        pixel_values_videos: torch.Tensor | None = None,
        video_frame_mask: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        past_key_values: Cache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        mm_encoder_outputs: dict[str, BaseModelOutputWithPooling] | None = None,
        video_tower_features: torch.Tensor | None = None,
        **kwargs: Unpack[TransformersKwargs],
    ) -> tuple | V2XumModelOutputWithPast:
        r"""
        pixel_values_videos (`torch.Tensor` of shape `(num_videos, num_frames, 3, height, width)`, *optional*):
            Processed frames, see `get_video_features`.
        video_frame_mask (`torch.Tensor` of shape `(num_videos, num_frames)`, *optional*):
            Real-frame mask for batches of videos of different lengths.
        mm_encoder_outputs (`dict`, *optional*):
            `{"video": get_video_features(...)}` computed once by `generate()`; replaces `pixel_values_videos`.
        video_tower_features (`torch.Tensor` of shape `(num_videos, num_frames, tokens_per_frame, dim)`, *optional*):
            Cached vision-tower outputs (training with `v2xum cache-features`); replaces `pixel_values_videos`.
        """
        if (input_ids is None) ^ (inputs_embeds is not None):
            raise ValueError("You must specify exactly one of input_ids or inputs_embeds")
        given = [pixel_values_videos is not None, mm_encoder_outputs is not None, video_tower_features is not None]
        if sum(given) > 1:
            raise ValueError(
                "Give the video once: pixel_values_videos, mm_encoder_outputs or video_tower_features, not several"
            )
        if video_tower_features is not None:
            mm_encoder_outputs = {"video": self.project_video_tower_features(video_tower_features, video_frame_mask)}
        if inputs_embeds is None:
            inputs_embeds = self.get_input_embeddings()(input_ids)

        mm_encoder_outputs = dict(mm_encoder_outputs or {})
        if mm_encoder_outputs.get("video") is None and pixel_values_videos is not None:
            mm_encoder_outputs["video"] = self.get_video_features(
                pixel_values_videos, video_frame_mask=video_frame_mask, return_dict=True
            )
        video_features = None
        if mm_encoder_outputs.get("video") is not None:
            video_features = torch.cat(list(mm_encoder_outputs["video"].pooler_output), dim=0)
            video_features = video_features.to(inputs_embeds.device, inputs_embeds.dtype)
            mask = self.get_placeholder_mask(input_ids, inputs_embeds, video_features)
            inputs_embeds = inputs_embeds.masked_scatter(mask, video_features)

        outputs = self.language_model(
            attention_mask=attention_mask,
            position_ids=position_ids,
            past_key_values=past_key_values,
            inputs_embeds=inputs_embeds,
            **kwargs,
        )
        return V2XumModelOutputWithPast(
            last_hidden_state=outputs.last_hidden_state,
            past_key_values=outputs.past_key_values,
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
            video_hidden_states=video_features,
        )


class V2XumForConditionalGeneration(V2XumPreTrainedModel, GenerationMixin):
    """V2Xum with its language modeling head: summarizes videos as keyframes, text or both."""

    _tied_weights_keys = {"lm_head.weight": "model.language_model.embed_tokens.weight"}

    def __init__(self, config: V2XumConfig):
        super().__init__(config)
        self.model = V2XumModel(config)
        self.lm_head = nn.Linear(config.text_config.hidden_size, config.text_config.vocab_size, bias=False)
        self.post_init()

    def get_output_embeddings(self) -> nn.Module:
        return self.lm_head

    def get_video_features(
        self,
        pixel_values_videos: torch.Tensor,
        video_frame_mask: torch.Tensor | None = None,
        **kwargs: Unpack[TransformersKwargs],
    ) -> tuple | BaseModelOutputWithPooling:
        return self.model.get_video_features(pixel_values_videos, video_frame_mask=video_frame_mask, **kwargs)

    @can_return_tuple
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        pixel_values_videos: torch.Tensor | None = None,
        video_frame_mask: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        past_key_values: Cache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        logits_to_keep: int | torch.Tensor = 0,
        mm_encoder_outputs: dict[str, BaseModelOutputWithPooling] | None = None,
        video_tower_features: torch.Tensor | None = None,
        **kwargs: Unpack[TransformersKwargs],
    ) -> tuple | V2XumCausalLMOutputWithPast:
        r"""
        labels (`torch.LongTensor` of shape `(batch_size, sequence_length)`, *optional*):
            Next-token targets; -100 (prompt, frames, padding) is ignored. Shifting happens inside the loss.
        video_tower_features (`torch.Tensor`, *optional*):
            Cached vision-tower outputs instead of `pixel_values_videos`, see `V2XumModel.forward`.
        """
        outputs = self.model(
            input_ids=input_ids,
            pixel_values_videos=pixel_values_videos,
            video_frame_mask=video_frame_mask,
            attention_mask=attention_mask,
            position_ids=position_ids,
            past_key_values=past_key_values,
            inputs_embeds=inputs_embeds,
            mm_encoder_outputs=mm_encoder_outputs,
            video_tower_features=video_tower_features,
            **kwargs,
        )
        logits = self.lm_head(slice_logits_to_keep(outputs.last_hidden_state, logits_to_keep))
        loss = None
        if labels is not None:
            loss = self.loss_function(
                logits=logits, labels=labels, vocab_size=self.config.text_config.vocab_size, **kwargs
            )
        return V2XumCausalLMOutputWithPast(
            loss=loss,
            logits=logits,
            past_key_values=outputs.past_key_values,
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
            video_hidden_states=outputs.video_hidden_states,
        )

    def keyframe_logits_processor(
        self,
        prompt_length: int,
        summary_task: str | None = None,
        max_keyframes: int | None = None,
        eos_token_id: int | list[int] | None = None,
    ) -> KeyframeLogitsProcessor | None:
        """The keyframe constraint for a prompt of `prompt_length` tokens, or `None` when keyframes are written as
        plain text (`temporal_prompt_style="text"`), where no token range can be masked. VIDEO and BOTH answers
        cannot end before naming a keyframe (when `eos_token_id` is known)."""
        if self.config.temporal_prompt_style != "special":
            return None
        if summary_task not in (None, "video", "text", "both"):
            raise ValueError(f"summary_task must be 'video', 'text' or 'both', got {summary_task!r}")
        return KeyframeLogitsProcessor(
            frame_token_start_id=self.config.frame_token_start_id,
            num_frame_tokens=self.config.num_frame_tokens,
            prompt_length=prompt_length,
            allow_keyframes=summary_task != "text",
            max_keyframes=max_keyframes,
            video_token_id=self.config.video_token_id,
            min_keyframes=1 if summary_task in ("video", "both") else 0,
            eos_token_id=eos_token_id,
        )

    @torch.no_grad()
    def generate(
        self,
        inputs: torch.Tensor | None = None,
        generation_config=None,
        logits_processor: LogitsProcessorList | None = None,
        *,
        summary_task: str | None = None,
        max_keyframes: int | None = None,
        constrain_keyframes: bool = True,
        **kwargs,
    ):
        r"""
        `GenerationMixin.generate` with keyframe-constrained decoding on by default: generated `[fNN]` tokens name
        frames present in the prompt, in strictly increasing order.

        Args:
            summary_task (`"video"`, `"text"` or `"both"`, *optional*): `"text"` forbids frame tokens.
            max_keyframes (`int`, *optional*): at most this many frame tokens per sequence.
            constrain_keyframes (`bool`, defaults to `True`): `False` generates without the constraint.
        """
        if constrain_keyframes:
            prompt_ids = kwargs.get("input_ids", inputs)
            prompt_length = prompt_ids.shape[1] if prompt_ids is not None and prompt_ids.ndim == 2 else 0
            eos_token_id = (generation_config or self.generation_config).eos_token_id
            constraint = self.keyframe_logits_processor(prompt_length, summary_task, max_keyframes, eos_token_id)
            if constraint is not None:
                logits_processor = LogitsProcessorList([*(logits_processor or []), constraint])
        return super().generate(
            inputs, generation_config=generation_config, logits_processor=logits_processor, **kwargs
        )


__all__ = [
    "V2XumPreTrainedModel",
    "V2XumModel",
    "V2XumForConditionalGeneration",
    "V2XumMultiModalProjector",
    "frame_features",
    "vision_tower_class",
]
