import torch
from transformers import (
    CLIPConfig,
    CLIPModel,
    CLIPVisionConfig,
    LlamaConfig,
    LlamaForCausalLM,
)

from modeling_v2xum import compose_v2xum
from v2xum.tiny_models import tiny_tokenizer


def test_compose_adds_contiguous_tokens_and_mean_rows(tmp_path):
    torch.manual_seed(0)
    tokenizer = tiny_tokenizer()
    old_size = len(tokenizer)
    lm = LlamaForCausalLM(
        LlamaConfig(
            vocab_size=old_size,
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
        )
    )
    lm.save_pretrained(tmp_path / "lm")
    tokenizer.save_pretrained(tmp_path / "lm")
    # a full CLIP checkpoint (text + vision), as openai/clip-vit-large-patch14 is published
    clip_config = CLIPConfig(
        vision_config=CLIPVisionConfig(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            image_size=32,
            patch_size=8,
        ).to_dict(),
        text_config={
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 1,
            "num_attention_heads": 4,
            "vocab_size": 99,
        },
        projection_dim=24,
    )
    clip = CLIPModel(clip_config)
    clip.save_pretrained(tmp_path / "clip")

    model, new_tokenizer = compose_v2xum(str(tmp_path / "clip"), str(tmp_path / "lm"))
    assert len(new_tokenizer) == old_size + 101
    start = model.config.frame_token_start_id
    assert new_tokenizer.convert_tokens_to_ids([f"[f{i:02d}]" for i in range(100)]) == list(range(start, start + 100))
    assert model.config.video_token_id == new_tokenizer.convert_tokens_to_ids("<frame>")
    assert model.config.text_config.vocab_size == old_size + 101

    old_in, old_out = lm.get_input_embeddings().weight, lm.lm_head.weight
    new_in, new_out = model.get_input_embeddings().weight, model.lm_head.weight
    assert torch.equal(new_in[:old_size], old_in) and torch.equal(new_out[:old_size], old_out)
    assert torch.allclose(new_in[start : start + 100], old_in.mean(0).expand(100, -1))
    assert torch.allclose(new_out[old_size:], old_out.mean(0).expand(101, -1))
    # pretrained vision weights (vision_model.* and visual_projection.*) arrive unchanged
    assert torch.equal(model.model.vision_tower.visual_projection.weight, clip.visual_projection.weight)
    assert torch.equal(
        model.model.vision_tower.vision_model.embeddings.patch_embedding.weight,
        clip.vision_model.embeddings.patch_embedding.weight,
    )
    assert new_tokenizer.padding_side == "left"
    assert model.generation_config.eos_token_id == new_tokenizer.eos_token_id


def test_projector_feature_norm_standardizes_and_round_trips(tmp_path, videos):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from v2xum.storyboard import write_storyboard_base

    path = write_storyboard_base(tmp_path / "base")
    model = AutoModelForImageTextToText.from_pretrained(path)
    processor = AutoProcessor.from_pretrained(path)
    norm = model.model.multi_modal_projector.feature_norm
    assert torch.equal(norm.running_mean, torch.zeros_like(norm.running_mean))  # reset, not to_empty garbage
    batch = processor(text=processor.build_prompt("both"), videos=videos["long"], return_tensors="pt")
    model.train()
    with torch.no_grad():
        model(**batch)
    assert norm.num_batches_tracked.item() == 1 and norm.running_mean.abs().sum() > 0
    model.eval().save_pretrained(tmp_path / "saved")
    reloaded = AutoModelForImageTextToText.from_pretrained(tmp_path / "saved").eval()
    torch.testing.assert_close(reloaded.model.multi_modal_projector.feature_norm.running_var, norm.running_var)
    with torch.no_grad():
        torch.testing.assert_close(reloaded(**batch).logits, model(**batch).logits)
