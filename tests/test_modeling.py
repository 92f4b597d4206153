import functools
import json
import os
import subprocess
import sys

import pytest
import torch
from transformers import AutoConfig, AutoModel, AutoModelForImageTextToText, AutoProcessor, AutoVideoProcessor

from modeling_v2xum import (
    V2XumConfig,
    V2XumForConditionalGeneration,
    V2XumModel,
    V2XumProcessor,
    V2XumVideoProcessor,
)


@pytest.fixture(scope="module")
def inputs(tiny_processor, videos):
    prompts = [tiny_processor.build_prompt("both"), tiny_processor.build_prompt("video")]
    batch = tiny_processor(text=prompts, videos=[videos["long"], videos["short"]], return_tensors="pt")
    return dict(batch)


def test_forward_shapes_and_loss(tiny_model, inputs):
    out = tiny_model(**inputs)
    batch, length = inputs["input_ids"].shape
    assert out.logits.shape == (batch, length, tiny_model.config.text_config.vocab_size)
    # 8 frames of the long video + 7 of the short one, one token each
    assert out.video_hidden_states.shape == (15, tiny_model.config.text_config.hidden_size)
    labels = inputs["input_ids"].clone()
    labels[:, :-5] = -100
    loss = tiny_model(**inputs, labels=labels).loss
    assert torch.isfinite(loss) and loss.item() > 0


def test_loss_ignores_masked_positions(tiny_model, inputs):
    labels = torch.full_like(inputs["input_ids"], -100)
    labels[:, -3:] = inputs["input_ids"][:, -3:]
    logits = tiny_model(**inputs).logits
    expected = torch.nn.functional.cross_entropy(
        logits[:, -4:-1].reshape(-1, logits.shape[-1]), labels[:, -3:].reshape(-1)
    )
    assert torch.allclose(tiny_model(**inputs, labels=labels).loss, expected, atol=1e-5)


def test_placeholder_feature_mismatch_names_both_numbers(tiny_model, inputs):
    broken = dict(inputs)
    ids = inputs["input_ids"].clone()
    ids[0, (ids[0] == tiny_model.config.video_token_id).nonzero()[0]] = 5  # drop one placeholder
    broken["input_ids"] = ids
    with pytest.raises(ValueError, match="14 placeholder tokens in the text, 15 visual feature tokens"):
        tiny_model(**broken)


def test_bad_pixel_shape_is_explained(tiny_model, inputs):
    with pytest.raises(ValueError, match="num_videos, num_frames, 3, height, width"):
        tiny_model.get_video_features(inputs["pixel_values_videos"][0])


def test_inputs_embeds_path_matches_input_ids(tiny_model, inputs):
    embeds = tiny_model.get_input_embeddings()(inputs["input_ids"])
    by_embeds = tiny_model(
        inputs_embeds=embeds,
        pixel_values_videos=inputs["pixel_values_videos"],
        video_frame_mask=inputs["video_frame_mask"],
        attention_mask=inputs["attention_mask"],
    ).logits
    assert torch.allclose(by_embeds, tiny_model(**inputs).logits, atol=1e-5)


def test_vision_tower_frozen_by_the_training_policy(tiny_dir):
    from v2xum.training import freeze_for_training, load_model_and_processor

    model, _ = load_model_and_processor(str(tiny_dir))
    assert all(p.requires_grad for p in model.parameters())  # the model itself decides nothing
    freeze_for_training(model)
    assert not any(p.requires_grad for p in model.model.vision_tower.parameters())
    assert all(p.requires_grad for p in model.model.multi_modal_projector.parameters())
    freeze_for_training(model, train_vision_tower=True)
    assert all(p.requires_grad for p in model.model.vision_tower.parameters())


def test_greedy_same_with_and_without_cache(tiny_model, inputs):
    kwargs = dict(max_new_tokens=12, do_sample=False, min_new_tokens=12)
    with_cache = tiny_model.generate(**inputs, use_cache=True, **kwargs)
    without_cache = tiny_model.generate(**inputs, use_cache=False, **kwargs)
    assert torch.equal(with_cache, without_cache)


def test_video_encoded_once_per_generate(tiny_model, inputs, monkeypatch):
    calls = []
    original = tiny_model.model.get_video_features

    @functools.wraps(original)  # generate() reads the signature to find the pixel inputs
    def counting(*args, **kwargs):
        calls.append(kwargs.get("pixel_values_videos", args[0] if args else None))
        return original(*args, **kwargs)

    monkeypatch.setattr(tiny_model.model, "get_video_features", counting)
    tiny_model.generate(**inputs, max_new_tokens=6, min_new_tokens=6, do_sample=False)
    assert len(calls) == 1


def test_beam_search_and_num_return_sequences(tiny_model, inputs):
    out = tiny_model.generate(**inputs, max_new_tokens=5, num_beams=3, num_return_sequences=2, do_sample=False)
    assert out.shape[0] == 4
    assert torch.equal(out[0, : inputs["input_ids"].shape[1]], inputs["input_ids"][0])
    assert torch.equal(out[3, : inputs["input_ids"].shape[1]], inputs["input_ids"][1])


def test_save_load_identical_logits(tiny_model, inputs, tmp_path):
    tiny_model.save_pretrained(tmp_path)
    reloaded = V2XumForConditionalGeneration.from_pretrained(tmp_path).eval()
    assert torch.equal(reloaded(**inputs).logits, tiny_model(**inputs).logits)


def test_auto_classes_round_trip(tiny_dir):
    assert isinstance(AutoConfig.from_pretrained(tiny_dir), V2XumConfig)
    assert type(AutoModelForImageTextToText.from_pretrained(tiny_dir)) is V2XumForConditionalGeneration
    assert type(AutoModel.from_pretrained(tiny_dir)) is V2XumModel
    assert type(AutoProcessor.from_pretrained(tiny_dir)) is V2XumProcessor
    assert type(AutoVideoProcessor.from_pretrained(tiny_dir)) is V2XumVideoProcessor
    auto_map = json.loads((tiny_dir / "config.json").read_text())["auto_map"]
    assert auto_map["AutoModelForImageTextToText"] == "modeling_v2xum.V2XumForConditionalGeneration"


@pytest.mark.parametrize("mode, projector", [("patch_pooled", "mlp2x_gelu")])
def test_patch_pooled_mlp_variant(tmp_path, videos, mode, projector):
    from v2xum.tiny_models import write_tiny_checkpoint

    path = write_tiny_checkpoint(tmp_path / "variant", vision_feature_mode=mode, projector_type=projector)
    model = AutoModelForImageTextToText.from_pretrained(path)
    processor = AutoProcessor.from_pretrained(path)
    assert model.config.num_video_tokens_per_frame == processor.num_video_tokens_per_frame == 4
    batch = processor(text=processor.build_prompt("text"), videos=videos["short"], return_tensors="pt")
    assert int((batch["input_ids"] == model.config.video_token_id).sum()) == 7 * 4
    assert model(**batch).logits.shape[:2] == batch["input_ids"].shape


REMOTE_SCRIPT = r"""
import sys, torch
# Even where the package is installed, make it unimportable: only the checkpoint's own code may be used.
sys.modules["modeling_v2xum"] = sys.modules["processing"] = None
from transformers import AutoModelForImageTextToText
path = sys.argv[1]
try:
    AutoModelForImageTextToText.from_pretrained(path)
except ValueError as error:
    assert "trust_remote_code" in str(error)
else:
    raise SystemExit("loaded custom code without trust_remote_code")
model = AutoModelForImageTextToText.from_pretrained(path, trust_remote_code=True)
assert type(model).__module__.startswith("transformers_modules"), type(model).__module__
ids = torch.load(sys.argv[2])
out = model.generate(**ids, max_new_tokens=4, min_new_tokens=4, do_sample=False)
print("GENERATED", out[0, -4:].tolist())
"""


def test_remote_code_loads_without_the_package(tiny_model, tiny_dir, inputs, tmp_path):
    torch.save(inputs, tmp_path / "inputs.pt")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["HF_MODULES_CACHE"] = str(tmp_path / "modules")
    result = subprocess.run(
        [sys.executable, "-c", REMOTE_SCRIPT, str(tiny_dir), str(tmp_path / "inputs.pt")],
        cwd=tmp_path,  # not the repository: the package must not be importable
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    expected = tiny_model.generate(**inputs, max_new_tokens=4, min_new_tokens=4, do_sample=False)[0, -4:].tolist()
    assert result.stdout.split("GENERATED")[-1].strip() == str(expected)
