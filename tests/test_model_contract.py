"""The model contract, in the spirit of transformers' `ModelTesterMixin` for LLaVA-style models: initialisation,
save/load, the `inputs_embeds` path, eager vs SDPA attention, a gradient-checkpointing step, batched vs single.
Built from configs alone (no tokenizer, no processor), for both feature modes."""

import copy

import pytest
import torch

from modeling_v2xum import V2XumConfig, V2XumForConditionalGeneration, V2XumModel


VOCAB, PLACEHOLDER, FRAME_START, FRAME_TOKENS = 64, 63, 40, 8


class V2XumModelTester:
    """Small configs and inputs: `batch_size` sequences of text ids around `[fNN]<frame>...` blocks."""

    def __init__(self, vision_feature_mode: str = "image_embeds", projector_type: str = "linear"):
        self.vision_feature_mode = vision_feature_mode
        self.projector_type = projector_type
        self.frames = (4, 3)  # frames of the two videos
        self.image_size = 16

    def get_config(self) -> V2XumConfig:
        return V2XumConfig(
            vision_config={
                "model_type": "clip_vision_model",
                "hidden_size": 16,
                "intermediate_size": 32,
                "num_hidden_layers": 2,
                "num_attention_heads": 2,
                "image_size": self.image_size,
                "patch_size": 4,
                "projection_dim": 12,
                "dropout": 0.0,
                "attention_dropout": 0.0,
            },
            text_config={
                "model_type": "llama",
                "vocab_size": VOCAB,
                "hidden_size": 32,
                "intermediate_size": 64,
                "num_hidden_layers": 2,
                "num_attention_heads": 4,
                "num_key_value_heads": 2,
                "max_position_embeddings": 128,
                "pad_token_id": 0,
                "attention_dropout": 0.0,
            },
            video_token_index=PLACEHOLDER,
            frame_token_start_id=FRAME_START,
            num_frame_tokens=FRAME_TOKENS,
            vision_feature_mode=self.vision_feature_mode,
            projector_type=self.projector_type,
        )

    def sequence(self, config: V2XumConfig, num_frames: int, generator: torch.Generator) -> list[int]:
        per_frame = [PLACEHOLDER] * config.num_video_tokens_per_frame
        video = [token for i in range(num_frames) for token in (FRAME_START + i, *per_frame)]
        text = torch.randint(1, FRAME_START, (5,), generator=generator).tolist()
        return text[:2] + video + text[2:]

    def prepare_inputs(self, config: V2XumConfig, seed: int = 0) -> dict[str, torch.Tensor]:
        """Left-padded batch of two videos with different frame counts."""
        generator = torch.Generator().manual_seed(seed)
        rows = [self.sequence(config, n, generator) for n in self.frames]
        longest = max(map(len, rows))
        input_ids = torch.zeros((len(rows), longest), dtype=torch.long)
        attention_mask = torch.zeros_like(input_ids)
        for i, row in enumerate(rows):
            input_ids[i, longest - len(row) :] = torch.tensor(row)
            attention_mask[i, longest - len(row) :] = 1
        pixels = torch.randn((len(rows), max(self.frames), 3, self.image_size, self.image_size), generator=generator)
        frame_mask = torch.arange(max(self.frames))[None, :] < torch.tensor(self.frames)[:, None]
        return {
            "input_ids": input_ids,
            "attention_mask": attention_mask,
            "pixel_values_videos": pixels,
            "video_frame_mask": frame_mask,
        }


@pytest.fixture(
    params=[("image_embeds", "linear"), ("patch_pooled", "mlp2x_gelu")], ids=["image_embeds", "patch_pooled"]
)
def tester(request):
    return V2XumModelTester(*request.param)


@pytest.fixture
def model(tester):
    torch.manual_seed(0)
    return V2XumForConditionalGeneration(tester.get_config()).eval()


def test_initialisation(model, tester):
    config = model.config
    assert isinstance(model.model, V2XumModel) and model.base_model_prefix == "model"
    assert model.lm_head.weight.shape == (VOCAB, config.text_config.hidden_size)
    assert all(torch.isfinite(p).all() for p in model.parameters())
    projector = model.model.multi_modal_projector.linear_1.weight
    assert projector.shape == (config.text_config.hidden_size, config.vision_feature_dim)
    # Linear layers are initialised from the decoder's initializer_range (0.02), not left at PyTorch's default.
    assert projector.std().item() == pytest.approx(config.text_config.initializer_range, rel=0.3)
    assert model.get_input_embeddings() is model.model.language_model.embed_tokens


def without_load_fields(config: dict) -> dict:
    """A config dict less what saving and loading fill in (the path, the dtype)."""
    return {
        k: without_load_fields(v) if isinstance(v, dict) else v
        for k, v in config.items()
        if k not in ("_name_or_path", "dtype")
    }


def test_save_and_load_give_the_same_model(model, tester, tmp_path):
    inputs = tester.prepare_inputs(model.config)
    model.save_pretrained(tmp_path)
    reloaded = V2XumForConditionalGeneration.from_pretrained(tmp_path).eval()
    assert without_load_fields(reloaded.config.to_dict()) == without_load_fields(model.config.to_dict())
    state, reloaded_state = model.state_dict(), reloaded.state_dict()
    assert state.keys() == reloaded_state.keys()
    assert all(torch.equal(state[k], reloaded_state[k]) for k in state)
    with torch.no_grad():
        assert torch.equal(model(**inputs).logits, reloaded(**inputs).logits)


def test_inputs_embeds_path(model, tester):
    inputs = tester.prepare_inputs(model.config)
    embeds = model.get_input_embeddings()(inputs.pop("input_ids"))
    with torch.no_grad():
        by_embeds = model(inputs_embeds=embeds, **inputs).logits
        by_ids = model(**tester.prepare_inputs(model.config)).logits
    torch.testing.assert_close(by_embeds, by_ids, atol=1e-5, rtol=0)


def test_eager_and_sdpa_attention_agree(model, tester, tmp_path):
    inputs = tester.prepare_inputs(model.config)
    model.save_pretrained(tmp_path)
    outputs = {}
    for implementation in ("eager", "sdpa"):
        loaded = V2XumForConditionalGeneration.from_pretrained(tmp_path, attn_implementation=implementation).eval()
        assert loaded.config.text_config._attn_implementation == implementation
        with torch.no_grad():
            logits = loaded(**inputs).logits
        outputs[implementation] = logits[inputs["attention_mask"].bool()]  # padding positions are undefined
    torch.testing.assert_close(outputs["eager"], outputs["sdpa"], atol=1e-5, rtol=1e-4)


def test_gradient_checkpointing_step_matches_a_plain_step(model, tester):
    inputs = tester.prepare_inputs(model.config)
    labels = inputs["input_ids"].masked_fill(inputs["input_ids"] == PLACEHOLDER, -100)
    labels = labels.masked_fill(inputs["attention_mask"] == 0, -100)
    gradients = {}
    for checkpointing in (False, True):
        copy_ = copy.deepcopy(model).train()
        if checkpointing:
            copy_.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
            assert copy_.model.language_model.gradient_checkpointing
        copy_(**inputs, labels=labels).loss.backward()
        gradients[checkpointing] = {n: p.grad.clone() for n, p in copy_.named_parameters() if p.grad is not None}
    assert gradients[True].keys() == gradients[False].keys() and gradients[True]
    for name, gradient in gradients[False].items():
        torch.testing.assert_close(gradients[True][name], gradient, atol=1e-6, rtol=1e-4, msg=name)


def test_batched_equals_single(model, tester):
    inputs = tester.prepare_inputs(model.config)
    with torch.no_grad():
        batched = model(**inputs).logits
        for i, frames in enumerate(tester.frames):
            real = inputs["attention_mask"][i].bool()
            single = model(
                input_ids=inputs["input_ids"][i : i + 1, real],
                pixel_values_videos=inputs["pixel_values_videos"][i : i + 1, :frames],
            ).logits[0]
            torch.testing.assert_close(batched[i, real], single, atol=1e-5, rtol=1e-4)
