"""Converting the released V2Xum-LLaMA layout, proven on a tiny checkpoint in that layout."""

import pytest
import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForImageTextToText, AutoProcessor, CLIPVisionModelWithProjection, LlamaForCausalLM

from modeling_v2xum.convert_v2xum_original import ConversionError, convert
from modeling_v2xum.convert_v2xum_original import main as convert_main
from processing import decode_video
from v2xum.tiny_models import write_tiny_parts


@pytest.fixture(scope="module")
def original(tmp_path_factory):
    """Tiny Llama base, a stage-1 projector file, a stage-2 PEFT LoRA (non-zero), an HF CLIP, an OpenAI CLIP file."""
    root = tmp_path_factory.mktemp("original")
    torch.manual_seed(0)
    vision_dir, base_dir = write_tiny_parts(root)
    lm = LlamaForCausalLM.from_pretrained(base_dir)
    lora = get_peft_model(
        lm,
        LoraConfig(
            r=4,
            lora_alpha=8,
            target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        ),
    )
    with torch.no_grad():
        for name, parameter in lora.named_parameters():
            if "lora_B" in name:
                parameter.normal_(std=0.2)  # PEFT starts B at zero: make the merge matter
    lora.save_pretrained(root / "stage2")
    projector = {"model.mm_projector.weight": torch.randn(32, 24) * 0.2, "model.mm_projector.bias": torch.randn(32)}
    torch.save(projector, root / "mm_projector.bin")

    from open_clip.model import CLIP, CLIPTextCfg, CLIPVisionCfg

    openai_clip = CLIP(
        embed_dim=24,
        vision_cfg=CLIPVisionCfg(layers=2, width=64, head_width=64, patch_size=8, image_size=32),
        text_cfg=CLIPTextCfg(context_length=16, vocab_size=100, width=32, heads=4, layers=1),
        quick_gelu=True,
    ).eval()
    torch.jit.save(torch.jit.script(openai_clip), str(root / "ViT-tiny.pt"))
    return {"root": root, "base": base_dir, "clip": vision_dir, "projector": projector, "openai_clip": openai_clip}


def reference_logits(original, frames, processor, inputs, vision_features):
    """The released forward, written out: prompt tokens, then per frame the tokens of '[ii]' (tokenized alone) and
    one projected CLIP image embedding, then the rest of the prompt; Vicuna with the LoRA merged."""
    from peft import PeftModel

    lm = PeftModel.from_pretrained(LlamaForCausalLM.from_pretrained(original["base"]), original["root"] / "stage2")
    lm = lm.merge_and_unload().eval()
    embed = lm.get_input_embeddings()
    projected = vision_features @ original["projector"]["model.mm_projector.weight"].T
    projected = projected + original["projector"]["model.mm_projector.bias"]
    ids = inputs["input_ids"][0].tolist()
    placeholder = processor.frame_placeholder_id
    first = ids.index(placeholder)
    prompt_length = len(processor.tokenizer("[00]", add_special_tokens=False)["input_ids"])
    prefix, suffix = ids[: first - prompt_length], ids[len(ids) - ids[::-1].index(placeholder) :]
    pieces = [embed(torch.tensor(prefix))]
    for i in range(len(frames)):
        pieces.append(embed(torch.tensor(processor.tokenizer(f"[{i:02d}]", add_special_tokens=False)["input_ids"])))
        pieces.append(projected[i : i + 1])
    pieces.append(embed(torch.tensor(suffix)))
    with torch.no_grad():
        return lm(inputs_embeds=torch.cat(pieces)[None]).logits


@pytest.mark.parametrize("clip_kind", ["hf", "openai"])
def test_converted_logits_equal_the_original_forward(original, videos, tmp_path, clip_kind):
    clip = str(original["clip"]) if clip_kind == "hf" else str(original["root"] / "ViT-tiny.pt")
    out = tmp_path / "converted"
    assert (
        convert_main(
            [
                "--base",
                str(original["base"]),
                "--projector",
                str(original["root"] / "mm_projector.bin"),
                "--lora",
                str(original["root"] / "stage2"),
                "--clip",
                clip,
                "--out",
                str(out),
                "--dtype",
                "float32",
            ]
        )
        == 0
    )
    model = AutoModelForImageTextToText.from_pretrained(out).eval()
    processor = AutoProcessor.from_pretrained(out)
    assert model.config.temporal_prompt_style == "text" and processor.temporal_prompt_style == "text"
    assert model.generation_config.do_sample and model.generation_config.temperature == 0.05
    assert "Please generate BOTH video and text summarization for this video. ASSISTANT:" in processor.build_prompt()

    video = decode_video(videos["medium"], num_frames=6)
    inputs = processor(
        text=processor.build_prompt("both"), videos=[video.frames], do_sample_frames=False, return_tensors="pt"
    )
    with torch.no_grad():
        ours = model(**inputs).logits
        pixels = inputs["pixel_values_videos"][0]
        if clip_kind == "hf":
            tower = CLIPVisionModelWithProjection.from_pretrained(original["clip"]).eval()
            features = tower(pixel_values=pixels).image_embeds
        else:
            features = original["openai_clip"].encode_image(pixels)
    expected = reference_logits(original, video.frames, processor, inputs, features)
    # Same positions; the converted vocabulary has one more row, the <frame> placeholder, never generated.
    assert ours.shape[:2] == expected.shape[:2] and ours.shape[2] == expected.shape[2] + 1
    torch.testing.assert_close(ours[..., :-1], expected, atol=1e-5, rtol=0)
    assert model.generation_config.suppress_tokens == [model.config.video_token_id]


def test_mistyped_paths_are_file_not_found_not_hub_lookups(original, tmp_path, capsys):
    args = [
        "--base",
        str(original["base"]),
        "--lora",
        str(original["root"] / "stage2"),
        "--clip",
        str(original["clip"]),
        "--out",
        str(tmp_path / "out"),
    ]
    assert convert_main([*args, "--projector", "nope.bin"]) == 2
    err = capsys.readouterr().err
    assert err == "error: --projector nope.bin: file not found (and not a Hub id: org/repo[/path inside])\n"
    assert convert_main([*args, "--projector", str(tmp_path / "missing" / "mm.bin")]) == 2
    assert "file not found" in capsys.readouterr().err
    assert convert_main([*args, "--projector", "org/repo/mm_projector.bin"]) == 2  # offline: one line
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith(
        "error: org/repo/mm_projector.bin: not on disk, and the Hub did not give it"
    )


def test_bad_inputs_are_errors(original, tmp_path):
    args = dict(base=str(original["base"]), lora=str(original["root"] / "stage2"), clip=str(original["clip"]))
    wrong = tmp_path / "wrong.bin"
    torch.save({"model.mm_projector.weight": torch.zeros(32, 23)}, wrong)
    with pytest.raises(ConversionError, match="projector weight is \\(32, 23\\), expected \\(32, 24\\)"):
        convert(projector=str(wrong), out=str(tmp_path / "a"), **args)
    extra = tmp_path / "extra.bin"
    torch.save({**original["projector"], "model.other.weight": torch.zeros(1)}, extra)
    with pytest.raises(ConversionError, match="unexpected weights .*model.other.weight"):
        convert(projector=str(extra), out=str(tmp_path / "b"), **args)
    broken = tmp_path / "stage2_broken"
    broken.mkdir()
    from safetensors.torch import load_file, save_file

    weights = load_file(original["root"] / "stage2" / "adapter_model.safetensors")
    weights["base_model.model.model.layers.0.self_attn.q_proj.lora_X.weight"] = torch.zeros(1)
    save_file(weights, broken / "adapter_model.safetensors")
    (broken / "adapter_config.json").write_text((original["root"] / "stage2" / "adapter_config.json").read_text())
    with pytest.raises(ConversionError, match="unexpected adapter weights"):
        convert(
            base=args["base"],
            lora=str(broken),
            clip=args["clip"],
            projector=str(original["root"] / "mm_projector.bin"),
            out=str(tmp_path / "c"),
        )


def test_openai_clip_file_is_read_without_running_it(original, tmp_path):
    """The archive is read by a restricted unpickler: a pickle that names any other callable is refused."""
    import pickle
    import zipfile

    from modeling_v2xum.convert_v2xum_original import load_openai_clip_state_dict

    weights = load_openai_clip_state_dict(str(original["root"] / "ViT-tiny.pt"))
    reference = original["openai_clip"].state_dict()
    # Every weight, equal; the archive also keeps tensor attributes (the text mask) that are not weights.
    assert set(reference) <= set(weights) and all(torch.equal(weights[k], reference[k]) for k in reference)

    evil = tmp_path / "evil.pt"
    with zipfile.ZipFile(evil, "w") as archive:
        archive.writestr("evil/data.pkl", pickle.dumps(__import__("os").system))  # names os.system
        archive.writestr("evil/code/__torch__.py", "")
    with pytest.raises(pickle.UnpicklingError, match="refusing to load posix.system|refusing to load os.system"):
        load_openai_clip_state_dict(str(evil))
