"""Real pretrained LMs, with tiny stand-ins: tied embeddings under LoRA and full fine-tuning, every architecture
choice from the training command, keyframes as one token for byte-level BPE and SentencePiece tokenizers, and the
LM's own chat template when asked."""

import json

import pytest
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import AutoModelForImageTextToText, PreTrainedTokenizerFast

import train_sft
from modeling_v2xum.composition import compose_v2xum, v2xum_processor_for
from processing.summary import SummarySentence, render_answer
from v2xum.cli import main as v2xum
from v2xum.collator import V2XumDataCollator
from v2xum.testing import write_numbered_video
from v2xum.tiny_models import write_tiny_parts
from v2xum.training import load_adapter
from v2xum.training_data import load_training_examples


CORPUS = [
    "A square appears.",
    "It moves right.",
    "A man cuts onions.",
    "Please generate BOTH video and text summarization for this video.",
    "USER: ASSISTANT: 0123456789 [ ] f , .",
] * 20
SPECIALS = ["<unk>", "<s>", "</s>", "<pad>"]
COMMON = [
    "--num_frames",
    "8",
    "--per_device_train_batch_size",
    "4",
    "--bf16",
    "false",
    "--report_to",
    "none",
    "--save_strategy",
    "no",
    "--lr_scheduler_type",
    "constant",
    "--activation_checkpointing",
    "false",
    "--logging_steps",
    "1",
    "--seed",
    "0",
]


def _fast(tokenizer: Tokenizer, **extra) -> PreTrainedTokenizerFast:
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, unk_token="<unk>", bos_token="<s>", eos_token="</s>", pad_token="<pad>", **extra
    )


def byte_level_bpe() -> PreTrainedTokenizerFast:
    """GPT-2 / SmolLM2 / Llama-3 style: spaces are part of the following token (`Ġword`)."""
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.train_from_iterator(
        CORPUS,
        trainers.BpeTrainer(
            vocab_size=300, special_tokens=SPECIALS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
        ),
    )
    return _fast(tokenizer)


def sentencepiece_like() -> PreTrainedTokenizerFast:
    """Llama-2 / Vicuna style: spaces become `▁` on the following piece (Metaspace)."""
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    tokenizer.decoder = decoders.Metaspace()
    tokenizer.train_from_iterator(CORPUS, trainers.BpeTrainer(vocab_size=300, special_tokens=SPECIALS))
    return _fast(tokenizer)


@pytest.fixture(scope="module")
def train_file(tmp_path_factory):
    root = tmp_path_factory.mktemp("lm_train")
    rows = []
    for i in range(8):
        write_numbered_video(root / f"v{i}.mp4", 40 + i, fps=10)
        rows.append(
            {
                "video": f"v{i}.mp4",
                "task": ("both", "video", "text")[i % 3],
                "sentences": [
                    {"text": "A square appears.", "seconds": [0.6, 1.2]},
                    {"text": "It moves right.", "seconds": [3.0]},
                ],
            }
        )
    (root / "train.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return root / "train.jsonl"


@pytest.fixture(scope="module")
def tied_parts(tmp_path_factory):
    vision_dir, text_dir = write_tiny_parts(tmp_path_factory.mktemp("tied"), text={"tie_word_embeddings": True})
    return vision_dir, text_dir


def _batch(out, train_file):
    from transformers import AutoProcessor

    processor = AutoProcessor.from_pretrained(out)
    return V2XumDataCollator(processor, num_frames=8)(list(load_training_examples(train_file))[:3])


def test_tied_lm_trains_with_lora_and_round_trips(tied_parts, train_file, tmp_path):
    out = tmp_path / "lora"
    trainer = train_sft.run(
        [
            "--vision_model",
            str(tied_parts[0]),
            "--language_model",
            str(tied_parts[1]),
            "--train_file",
            str(train_file),
            "--output_dir",
            str(out),
            "--use_peft",
            "--lora_r",
            "4",
            "--learning_rate",
            "0.01",
            "--new_parts_learning_rate",
            "0.05",
            "--frame_token_init",
            "spelled",
            "--max_steps",
            "4",
            *COMMON,
        ]
    )
    base = AutoModelForImageTextToText.from_pretrained(out / "base_model")
    assert not base.config.tie_word_embeddings  # untied at composition: the head has rows of its own
    assert base.lm_head.weight.data_ptr() != base.get_input_embeddings().weight.data_ptr()
    model = trainer.model.eval()
    batch = _batch(out, train_file)
    with torch.no_grad():
        expected = model(**batch).logits
        assert torch.equal(load_adapter(out).eval()(**batch).logits, expected)
    frames = torch.arange(base.config.frame_token_start_id, base.config.frame_token_start_id + 8)
    trained = load_adapter(out).merge_and_unload()
    # The new rows trained in the input embedding (trainable tokens) and in the head (saved whole).
    assert not torch.allclose(
        trained.get_input_embeddings().weight[frames], base.get_input_embeddings().weight[frames]
    )
    assert not torch.allclose(trained.lm_head.weight[frames], base.lm_head.weight[frames])
    assert v2xum(["merge-adapter", str(out), str(tmp_path / "merged")]) == 0
    merged = AutoModelForImageTextToText.from_pretrained(tmp_path / "merged").eval()
    with torch.no_grad():
        torch.testing.assert_close(merged(**batch).logits, expected, atol=1e-5, rtol=0)


def test_tied_lm_full_fine_tuning_and_kept_tie(tied_parts, train_file, tmp_path):
    args = [
        "--vision_model",
        str(tied_parts[0]),
        "--language_model",
        str(tied_parts[1]),
        "--train_file",
        str(train_file),
        "--learning_rate",
        "0.01",
        "--max_steps",
        "2",
        *COMMON,
    ]
    train_sft.run([*args, "--output_dir", str(tmp_path / "untied")])
    untied = AutoModelForImageTextToText.from_pretrained(tmp_path / "untied")
    assert not untied.config.tie_word_embeddings
    train_sft.run([*args, "--output_dir", str(tmp_path / "tied"), "--untie_word_embeddings", "false"])
    tied = AutoModelForImageTextToText.from_pretrained(tmp_path / "tied")
    assert tied.config.tie_word_embeddings and torch.equal(tied.lm_head.weight, tied.get_input_embeddings().weight)
    with pytest.raises(ValueError, match="untie_word_embeddings=True"):
        train_sft.run([*args, "--output_dir", str(tmp_path / "bad"), "--untie_word_embeddings", "false", "--use_peft"])


def test_every_architecture_choice_from_the_command_line(tied_parts, train_file, tmp_path):
    config = tmp_path / "arch.yaml"
    config.write_text(
        "vision_feature_mode: patch_pooled\nvision_feature_layer: -1\nprojector_type: mlp2x_gelu\n"
        "projector_feature_norm: true\npooled_patch_grid: 1\n"
    )
    train_sft.run(
        [
            "--config",
            str(config),
            "--vision_model",
            str(tied_parts[0]),
            "--language_model",
            str(tied_parts[1]),
            "--train_file",
            str(train_file),
            "--output_dir",
            str(tmp_path / "a"),
            "--num_frame_tokens",
            "200",
            "--max_steps",
            "1",
            *COMMON,
        ]
    )
    built = json.loads((tmp_path / "a" / "config.json").read_text())
    assert (
        built["vision_feature_mode"],
        built["vision_feature_layer"],
        built["projector_type"],
        built["projector_feature_norm"],
        built["pooled_patch_grid"],
        built["num_frame_tokens"],
    ) == ("patch_pooled", -1, "mlp2x_gelu", True, 1, 200)
    train_sft.run(
        [
            "--vision_model",
            str(tied_parts[0]),
            "--language_model",
            str(tied_parts[1]),
            "--train_file",
            str(train_file),
            "--output_dir",
            str(tmp_path / "t"),
            "--temporal_prompt_style",
            "text",
            "--max_steps",
            "1",
            *COMMON,
        ]
    )
    text_style = json.loads((tmp_path / "t" / "config.json").read_text())
    assert text_style["temporal_prompt_style"] == "text" and text_style["frame_token_start_id"] is None
    with pytest.raises(ValueError, match="keeps its own"):
        train_sft.run(
            [
                "--model_name_or_path",
                str(tmp_path / "a"),
                "--train_file",
                str(train_file),
                "--output_dir",
                str(tmp_path / "b"),
                "--projector_type",
                "mlp2x_gelu",
                "--max_steps",
                "1",
                *COMMON,
            ]
        )


@pytest.mark.parametrize("make_tokenizer", [byte_level_bpe, sentencepiece_like])
def test_a_keyframe_is_one_target_token(make_tokenizer, tmp_path, videos):
    vision_dir, text_dir = write_tiny_parts(tmp_path / "parts", tokenizer=make_tokenizer())
    model, tokenizer = compose_v2xum(str(vision_dir), str(text_dir))
    processor = v2xum_processor_for(model.config, tokenizer, num_frames=8)
    space_like = {i for i in range(len(tokenizer)) if tokenizer.convert_ids_to_tokens(i) in (" ", "Ġ", "▁")}
    frame_ids = set(model.config.frame_token_ids)
    examples = [
        {
            "video": videos["long"],
            "task": task,
            "duration": None,
            "query": None,
            "source": "row",
            "sentences": [
                {"text": "A square appears.", "seconds": [1.4, 2.8], "grid": []},
                {"text": "It moves right.", "seconds": [7.1], "grid": []},
            ],
        }
        for task in ("both", "video")
    ]
    batch = V2XumDataCollator(processor, num_frames=8)(examples)
    for labels in batch["labels"]:
        answer = labels[labels != -100].tolist()
        named = [i for i, t in enumerate(answer) if t in frame_ids]
        assert len(named) == 3  # [f01][f02] and [f05]: one token each ...
        assert all(i == 0 or answer[i - 1] not in space_like for i in named)  # ... and no token spent on a space
    # The released text style keeps its spelling.
    sentences = [SummarySentence("A man talks.", [3, 4]), SummarySentence("He pours water.", [15])]
    assert render_answer(sentences, "text") == "A man talks [03, 04]. He pours water [15]."
    assert render_answer(sentences, "special") == "A man talks[f03][f04]. He pours water[f15]."


def test_the_lms_own_chat_template_when_asked(tmp_path, caplog):
    tokenizer = sentencepiece_like()
    tokenizer.chat_template = (
        "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
        "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    )
    vision_dir, text_dir = write_tiny_parts(tmp_path / "parts", tokenizer=tokenizer)
    model, tokenizer = compose_v2xum(str(vision_dir), str(text_dir))
    own = v2xum_processor_for(model.config, tokenizer, num_frames=4, chat_template="language_model")
    prompt = own.build_prompt("video")
    assert prompt.startswith("<|im_start|>user\n<video>\n Please generate a VIDEO summarization")
    assert prompt.endswith("<|im_start|>assistant\n")
    inputs = own(
        text=prompt,
        videos=[{"frames": torch.zeros(4, 32, 32, 3, dtype=torch.uint8).numpy(), "fps": 2.0}],
        return_tensors="pt",
    )
    assert int((inputs["input_ids"] == model.config.video_token_id).sum()) == 4
    vicuna = v2xum_processor_for(model.config, tokenizer, num_frames=4)
    assert vicuna.build_prompt("video").endswith("Please generate a VIDEO summarization for this video. ASSISTANT:")
    assert "chat template is replaced" in caplog.text


def test_spelled_initialisation(tmp_path):
    vision_dir, text_dir = write_tiny_parts(tmp_path / "parts", tokenizer=byte_level_bpe())
    from transformers import AutoTokenizer, LlamaForCausalLM

    original = LlamaForCausalLM.from_pretrained(text_dir).get_input_embeddings().weight
    spelling = AutoTokenizer.from_pretrained(text_dir)("[f03]", add_special_tokens=False)["input_ids"]
    model, tokenizer = compose_v2xum(str(vision_dir), str(text_dir), frame_token_init="spelled")
    row = model.get_input_embeddings().weight[tokenizer.convert_tokens_to_ids("[f03]")]
    torch.testing.assert_close(row, original[spelling].mean(dim=0))
    assert len(spelling) > 1  # the spelling is several pieces, the token one
