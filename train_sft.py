# Copyright 2026 The V2Xum Authors. Licensed under the Apache License, Version 2.0.
"""Supervised fine-tuning of V2Xum on TRL's SFTTrainer: LoRA or full weights, one GPU or many (accelerate).

    python train_sft.py --config configs/tiny_cpu.yaml
    accelerate launch --config_file configs/accelerate/ddp.yaml train_sft.py --config configs/paper_v2xum_llama7b_lora.yaml

Any field of the dataclasses below, of TRL's `SFTConfig` and `ModelConfig` can be set in the YAML or on the command
line (command line wins). The model is a V2Xum checkpoint (`--model_name_or_path`) or is composed from a CLIP and a
Llama-family LM (`--vision_model`, `--language_model`). Data are training examples in the package's format
(`processing.training_data`): a JSONL file (`--train_file`) or a `datasets` dataset (`--dataset_name`).
"""

import os
import sys
from dataclasses import dataclass, field

import datasets
from transformers.trainer_utils import get_last_checkpoint
from trl import ModelConfig, ScriptArguments, SFTConfig, SFTTrainer, TrlParser

import modeling_v2xum  # noqa: F401  (registers V2Xum with the Auto classes)
from modeling_v2xum.feature_cache import VideoFeatureCache, cache_settings
from modeling_v2xum.model_card import render_model_card
from modeling_v2xum.training import COMPOSED_BASE_DIR, load_model_and_processor, v2xum_lora_config
from processing.training_data import V2XumDataCollator, load_training_examples, prepare_examples


@dataclass
class V2XumArguments:
    train_file: str | None = field(default=None, metadata={"help": "JSONL of training examples"})
    eval_file: str | None = field(default=None, metadata={"help": "JSONL of evaluation examples"})
    video_root: str | None = field(
        default=None, metadata={"help": "folder that relative video paths start from (default: the file's folder)"}
    )
    skip_missing: bool = field(default=False, metadata={"help": "drop examples whose video is missing"})
    num_frames: int = field(default=100, metadata={"help": "frames sampled per video (at most 100)"})
    decode_mode: str = field(default="exact", metadata={"help": "exact | keyframes"})
    feature_cache: str | None = field(
        default=None, metadata={"help": "folder from `v2xum cache-features`: train on cached tower features"}
    )
    vision_model: str | None = field(default=None, metadata={"help": "CLIP to compose a new V2Xum from"})
    language_model: str | None = field(default=None, metadata={"help": "Llama-family LM to compose a new V2Xum from"})
    train_vision_tower: bool = field(default=False, metadata={"help": "full fine-tuning also trains the tower"})


def make_parser() -> TrlParser:
    return TrlParser((ScriptArguments, V2XumArguments, SFTConfig, ModelConfig))


def _datasets(script_args: ScriptArguments, args: V2XumArguments, eval_wanted: bool):
    if args.train_file:
        train = load_training_examples(args.train_file, args.video_root, args.skip_missing)
        evaluation = load_training_examples(args.eval_file, args.video_root, args.skip_missing) if args.eval_file else None
        return train, evaluation
    if not script_args.dataset_name:
        raise ValueError("No training data: give --train_file (JSONL) or --dataset_name (a datasets dataset)")
    loaded = datasets.load_dataset(script_args.dataset_name, script_args.dataset_config)
    source = f"{script_args.dataset_name}[{script_args.dataset_train_split}]"
    train = prepare_examples(list(loaded[script_args.dataset_train_split]), args.video_root, args.skip_missing, source)
    evaluation = None
    if eval_wanted and script_args.dataset_test_split in loaded:
        split = loaded[script_args.dataset_test_split]
        evaluation = prepare_examples(list(split), args.video_root, args.skip_missing, script_args.dataset_test_split)
    return train, evaluation


def _resume_target(training_args: SFTConfig):
    """`resume_from_checkpoint`: a checkpoint folder, or `last`/`true` for the newest one in `output_dir`."""
    value = training_args.resume_from_checkpoint
    if value is None or str(value).lower() in ("false", "none", ""):
        return None
    if str(value).lower() in ("last", "true"):
        last = get_last_checkpoint(training_args.output_dir) if os.path.isdir(training_args.output_dir) else None
        if last is None:
            raise ValueError(f"resume_from_checkpoint={value}, but {training_args.output_dir} holds no checkpoint")
        return last
    return value


def _push(training_args: SFTConfig) -> None:
    """Uploads the saved model, processor and our card (`Trainer.push_to_hub` would replace the card with TRL's)."""
    from huggingface_hub import HfApi

    repo_id = training_args.hub_model_id or os.path.basename(os.path.abspath(training_args.output_dir))
    api = HfApi(token=training_args.hub_token)
    api.create_repo(repo_id, private=training_args.hub_private_repo, exist_ok=True)
    api.upload_folder(
        repo_id=repo_id,
        folder_path=training_args.output_dir,
        revision=training_args.hub_revision,
        ignore_patterns=["checkpoint-*", "runs/*", f"{COMPOSED_BASE_DIR}/*"],
        commit_message="Upload V2Xum model trained with train_sft.py",
    )


def main(argv: list[str] | None = None) -> SFTTrainer:
    script_args, args, training_args, model_args = make_parser().parse_args_and_config(args=argv)
    if args.decode_mode not in ("exact", "keyframes"):
        raise ValueError(f"decode_mode must be 'exact' or 'keyframes', got {args.decode_mode!r}")
    if model_args.use_peft and args.train_vision_tower:
        raise ValueError("--train_vision_tower is for full fine-tuning; LoRA adapts the language model only")
    # The collator builds inputs and labels from video files; TRL must neither prepare nor prune the dataset.
    training_args.dataset_kwargs = {"skip_prepare_dataset": True}
    training_args.remove_unused_columns = False

    resume = _resume_target(training_args)
    composed = args.vision_model is not None
    model, processor = load_model_and_processor(
        model_args.model_name_or_path,
        vision_model=args.vision_model,
        language_model=args.language_model,
        num_frames=args.num_frames,
        dtype=model_args.dtype,
        attn_implementation=model_args.attn_implementation,
        composed_base_dir=os.path.join(training_args.output_dir, COMPOSED_BASE_DIR) if composed else None,
    )
    if args.train_vision_tower:
        model.model.vision_tower.requires_grad_(True)

    peft_config = None
    if model_args.use_peft:
        peft_config = v2xum_lora_config(
            model.config,
            r=model_args.lora_r,
            lora_alpha=model_args.lora_alpha,
            lora_dropout=model_args.lora_dropout,
            target_modules=model_args.lora_target_modules,
            modules_to_save=model_args.lora_modules_to_save,
            use_rslora=model_args.use_rslora,
            use_dora=model_args.use_dora,
        )

    train_dataset, eval_dataset = _datasets(script_args, args, training_args.eval_strategy != "no")
    feature_cache = None
    if args.feature_cache:
        expected = cache_settings(model, processor, args.num_frames, args.decode_mode)
        feature_cache = VideoFeatureCache(args.feature_cache, expected_settings=expected)
        uncached = [v for v in set(train_dataset["video"]) if v not in feature_cache]
        if uncached:
            raise ValueError(
                f"{len(uncached)} training video(s) are not in the feature cache {args.feature_cache}, e.g. "
                f"{sorted(uncached)[:3]}; rebuild it with `v2xum cache-features`"
            )
    collator = V2XumDataCollator(
        processor,
        num_frames=args.num_frames,
        max_length=training_args.max_length,
        decode_mode=args.decode_mode,
        feature_cache=feature_cache,
    )
    trainer = SFTTrainer(
        model=model,
        args=training_args,
        data_collator=collator,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        processing_class=processor,
        peft_config=peft_config,
    )
    trainer.train(resume_from_checkpoint=resume)
    trainer.save_model(training_args.output_dir)

    if trainer.is_world_process_zero():
        method = (
            f"LoRA r={model_args.lora_r}, alpha={model_args.lora_alpha} on the language model; projector and "
            "lm_head fully trained; [fNN] embedding rows trained"
            if model_args.use_peft
            else "full fine-tuning" + (" including the vision tower" if args.train_vision_tower else ", vision tower frozen")
        )
        losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
        scheduler = getattr(training_args.lr_scheduler_type, "value", training_args.lr_scheduler_type)
        summary = (
            f"`train_sft.py` (TRL SFTTrainer): {method}. {len(train_dataset)} examples "
            f"({args.train_file or script_args.dataset_name}), {training_args.num_train_epochs:g} epoch(s), "
            f"lr {training_args.learning_rate:g} ({scheduler}), {trainer.state.global_step} steps"
            + (f", logged training loss {losses[0]:.4f} -> {losses[-1]:.4f}." if losses else ".")
        )
        # Written after training: TRL rewrites README.md at every checkpoint.
        card = render_model_card(
            model.config if not model_args.use_peft else trainer.model.get_base_model().config,
            repo_id=training_args.hub_model_id or os.path.basename(os.path.abspath(training_args.output_dir)),
            base_model=model_args.model_name_or_path or [args.vision_model, args.language_model],
            vision_model=args.vision_model,
            language_model=args.language_model,
            training_summary=summary,
            num_frames=args.num_frames,
            vision_tower_trained=args.train_vision_tower,
        )
        card.save(os.path.join(training_args.output_dir, "README.md"))
        if training_args.push_to_hub:
            _push(training_args)
    return trainer


if __name__ == "__main__":
    main(sys.argv[1:])
