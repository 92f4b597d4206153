import pytest
from huggingface_hub.errors import StrictDataclassError
from transformers import AutoConfig, CLIPVisionConfig, LlamaConfig

from modeling_v2xum import V2XumConfig


TEXT = {
    "model_type": "llama",
    "vocab_size": 200,
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
}
VISION = {
    "model_type": "clip_vision_model",
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "image_size": 32,
    "patch_size": 8,
    "projection_dim": 24,
}


def make(**overrides):
    kwargs = {"vision_config": VISION, "text_config": TEXT, "video_token_index": 150, "frame_token_start_id": 20}
    return V2XumConfig(**(kwargs | overrides))


def test_round_trip_and_aliases(tmp_path):
    config = make(projector_type="mlp2x_gelu", vision_feature_mode="patch_pooled", pooled_patch_grid=3)
    config.save_pretrained(tmp_path)
    loaded = AutoConfig.from_pretrained(tmp_path)
    assert isinstance(loaded, V2XumConfig)
    assert isinstance(loaded.text_config, LlamaConfig) and isinstance(loaded.vision_config, CLIPVisionConfig)
    assert loaded.to_diff_dict() | {"_name_or_path": ""} == config.to_diff_dict() | {"_name_or_path": ""}
    assert loaded.video_token_id == 150 and loaded.num_video_tokens_per_frame == 9
    assert loaded.frame_token_ids == range(20, 120)


def test_released_model_is_expressible():
    config = V2XumConfig.released_v2xum_llama()
    assert config.num_video_tokens_per_frame == 1
    assert config.vision_feature_dim == 768
    assert config.text_config.hidden_size == 4096 and config.text_config.num_hidden_layers == 32
    assert config.vision_config.image_size == 224 and config.vision_config.patch_size == 14
    assert config.temporal_prompt_style == "text" and config.projector_type == "linear"


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"frame_token_start_id": 150}, "do not fit the text vocabulary"),
        ({"frame_token_start_id": 100}, "lies inside the frame token range"),
        ({"frame_token_start_id": None}, "needs frame_token_start_id"),
        ({"video_token_index": 500}, "outside the text vocabulary"),
        ({"num_frame_tokens": 1001}, "between 1 and 1000 for temporal_prompt_style='special'"),
        (
            {"num_frame_tokens": 101, "temporal_prompt_style": "text"},
            "between 1 and 100 for temporal_prompt_style='text'",
        ),
        ({"vision_feature_mode": "patch_pooled", "pooled_patch_grid": 5}, "4 patches per side"),
    ],
)
def test_invalid_values_raise_clear_errors(overrides, message):
    with pytest.raises(StrictDataclassError, match=message):
        make(**overrides)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"vision_feature_mode": "cls"}, "vision_feature_mode"),
        ({"projector_type": "qformer"}, "projector_type"),
        ({"video_token_index": "x"}, "video_token_index"),
    ],
)
def test_wrong_types_and_unknown_modes_raise(overrides, message):
    with pytest.raises(StrictDataclassError, match=message):
        make(**overrides)


def test_image_embeds_needs_clip():
    siglip = {
        "model_type": "siglip_vision_model",
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "image_size": 32,
        "patch_size": 8,
    }
    with pytest.raises(StrictDataclassError, match="needs a CLIP vision tower"):
        make(vision_config=siglip)
    assert make(vision_config=siglip, vision_feature_mode="patch_pooled").num_video_tokens_per_frame == 4
