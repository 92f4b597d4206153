# Copyright 2026 The V2Xum Authors. Licensed under the Apache License, Version 2.0.
"""Supervised fine-tuning of V2Xum on TRL's SFTTrainer: LoRA or full weights, one GPU or many (accelerate).

    python train_sft.py --config configs/tiny_cpu.yaml
    accelerate launch --config_file configs/accelerate/ddp.yaml train_sft.py \
        --config configs/paper_v2xum_llama7b_lora.yaml

The released recipe has two stages. `--stage align` (stage 1) trains the projector and the new `[fNN]` rows on
captions of clips (`v2xum.alignment_data`) with the language model and the tower frozen, and saves a full checkpoint
plus the projector alone (`mm_projector.bin` / `.safetensors`, the released layout). `--stage finetune` (stage 2, the
default) trains on summaries; it starts from a stage-1 folder (`--model_name_or_path`) or takes its projector
(`--projector_from`), and `--freeze_projector` keeps the projector as it is, as the released recipe does.

Any field of the dataclasses below, of TRL's `SFTConfig` and `ModelConfig` can be set in the YAML or on the command
line (command line wins). The model is a V2Xum checkpoint (`--model_name_or_path`) or is composed from a CLIP and a
Llama-family LM (`--vision_model`, `--language_model`). Data are training examples in the package's format
(`v2xum.training_data`): a JSONL file (`--train_file`) or a `datasets` dataset (`--dataset_name`).
Shaped like TRL's `trl/scripts/sft.py`: `make_parser()`, then `main(...)` on the parsed dataclasses.
"""

import os
import sys
from dataclasses import dataclass, field

from trl import ModelConfig, ScriptArguments, SFTConfig, SFTTrainer, TrlParser

from modeling_v2xum.model_card import is_hub_id
from v2xum.alignment_data import prepare_alignment_rows
from v2xum.cli import USER_ERRORS
from v2xum.collator import V2XumAlignmentCollator, V2XumDataCollator
from v2xum.feature_cache import open_feature_cache
from v2xum.hub import push_model
from v2xum.training import (
    COMPOSED_BASE_DIR,
    TimeBudget,
    alignment_optimizer,
    check_reporting,
    freeze_for_alignment,
    freeze_for_training,
    freeze_projector,
    load_model_and_processor,
    resume_checkpoint,
    save_aligned_projector,
    split_learning_rates,
    training_card,
    training_datasets,
    training_method,
    v2xum_lora_config,
)
from v2xum.training_data import prepare_examples, write_training_videos


STAGES = ("align", "finetune")


@dataclass
class V2XumArguments:
    stage: str = field(default="finetune", metadata={"help": "align (stage 1: captions, projector only) | finetune"})
    train_file: str | None = field(default=None, metadata={"help": "JSONL of training examples (align: captions)"})
    eval_file: str | None = field(default=None, metadata={"help": "JSONL of evaluation examples"})
    video_root: str | None = field(
        default=None, metadata={"help": "folder that relative video paths start from (default: the file's folder)"}
    )
    skip_missing: bool = field(default=False, metadata={"help": "drop examples whose video is missing"})
    num_frames: int | None = field(
        default=None, metadata={"help": "frames sampled per video (default: the processor's; at most 100)"}
    )
    decode_mode: str = field(default="exact", metadata={"help": "exact | keyframes"})
    feature_cache: str | None = field(
        default=None, metadata={"help": "folder from `v2xum cache-features`: train on cached tower features"}
    )
    vision_model: str | None = field(default=None, metadata={"help": "CLIP to compose a new V2Xum from"})
    language_model: str | None = field(default=None, metadata={"help": "Llama-family LM to compose a new V2Xum from"})
    train_vision_tower: bool = field(default=False, metadata={"help": "full fine-tuning also trains the tower"})
    # The architecture of a composed model (V2XumConfig's choices); a checkpoint keeps its own.
    vision_feature_mode: str = field(default="image_embeds", metadata={"help": "image_embeds | patch_pooled"})
    vision_feature_layer: int = field(default=-2, metadata={"help": "tower layer of patch_pooled features"})
    pooled_patch_grid: int = field(default=2, metadata={"help": "patch_pooled: g x g tokens per frame"})
    projector_type: str = field(default="linear", metadata={"help": "linear | mlp2x_gelu"})
    projector_feature_norm: bool = field(default=False, metadata={"help": "standardize features before projecting"})
    num_frame_tokens: int = field(default=100, metadata={"help": "temporal prompts [f00].. (up to 1000 special)"})
    temporal_prompt_style: str = field(default="special", metadata={"help": "special ([f03] tokens) | text ([03])"})
    untie_word_embeddings: bool = field(default=True, metadata={"help": "give a tied LM its own lm_head (LoRA)"})
    chat_template: str = field(default="v2xum", metadata={"help": "v2xum (Vicuna v1) | language_model (keep its own)"})
    frame_token_init: str = field(default="mean", metadata={"help": "new [fNN] rows: mean | spelled (from '[f03]')"})
    new_parts_learning_rate: float | None = field(
        default=None, metadata={"help": "learning rate of the projector and new token rows (default: learning_rate)"}
    )
    max_train_minutes: float | None = field(default=None, metadata={"help": "stop training after this many minutes"})
    projector_from: str | None = field(
        default=None,
        metadata={"help": "start from this projector: a stage-1 folder or an mm_projector.bin/.safetensors"},
    )
    freeze_projector: bool = field(default=False, metadata={"help": "stage 2: keep the projector as it starts"})
    base_model_id: str | None = field(
        default=None, metadata={"help": "with --push_to_hub of a LoRA on a local base: the base's Hub id (org/name)"}
    )


def make_parser() -> TrlParser:
    return TrlParser((ScriptArguments, V2XumArguments, SFTConfig, ModelConfig))


ARCHITECTURE_FIELDS = (
    "vision_feature_mode",
    "vision_feature_layer",
    "pooled_patch_grid",
    "projector_type",
    "projector_feature_norm",
    "num_frame_tokens",
    "temporal_prompt_style",
    "untie_word_embeddings",
    "frame_token_init",
)


def _check(args: V2XumArguments, training_args: SFTConfig, model_args: ModelConfig) -> None:
    if args.stage not in STAGES:
        raise ValueError(f"stage must be one of {STAGES}, got {args.stage!r}")
    if args.decode_mode not in ("exact", "keyframes"):
        raise ValueError(f"decode_mode must be 'exact' or 'keyframes', got {args.decode_mode!r}")
    if args.num_frames is not None and args.num_frames < 1:
        raise ValueError(f"num_frames must be a positive number of frames, got {args.num_frames}")
    if model_args.use_peft and args.train_vision_tower:
        raise ValueError("--train_vision_tower is for full fine-tuning; LoRA adapts the language model only")
    stage2_only = {
        "use_peft": model_args.use_peft,
        "train_vision_tower": args.train_vision_tower,
        "freeze_projector": args.freeze_projector,
        "feature_cache": args.feature_cache,
        "new_parts_learning_rate": args.new_parts_learning_rate,
    }
    given = [name for name, value in stage2_only.items() if value not in (None, False)]
    if args.stage == "align" and given:
        raise ValueError(
            f"--{' --'.join(given)}: not for --stage align, which trains the projector and the new "
            "[fNN] rows only (on decoded clips, at --learning_rate)"
        )
    changed = [
        name
        for name in (*ARCHITECTURE_FIELDS, "chat_template")
        if getattr(args, name) != V2XumArguments.__dataclass_fields__[name].default
    ]
    if (
        training_args.push_to_hub
        and model_args.use_peft
        and not args.base_model_id
        and not is_hub_id(model_args.model_name_or_path)
    ):
        raise ValueError(
            "--push_to_hub of a LoRA adapter whose base is local: the pushed adapter could not load. "
            "Push the base first and give its Hub id: --base_model_id org/base"
        )
    if changed and model_args.model_name_or_path:
        raise ValueError(
            f"--{' --'.join(changed)} shape a composed model (--vision_model/--language_model); the "
            f"checkpoint {model_args.model_name_or_path} keeps its own"
        )


def main(
    script_args: ScriptArguments,
    args: V2XumArguments,
    training_args: SFTConfig,
    model_args: ModelConfig,
    callbacks: list | None = None,
) -> SFTTrainer:
    """Trains one stage; `callbacks` (`TrainerCallback`s) are added to the trainer's."""
    _check(args, training_args, model_args)
    # The collator builds inputs and labels from video files; TRL must neither prepare nor prune the dataset. The
    # Trainer must not push (it would commit its own card without remote code): v2xum.hub pushes once, at the end.
    training_args.dataset_kwargs = {"skip_prepare_dataset": True}
    training_args.remove_unused_columns = False
    push_to_hub, training_args.push_to_hub = training_args.push_to_hub, False
    check_reporting(training_args.report_to)  # a missing tracker is an error now, not after loading everything
    resume = resume_checkpoint(training_args.resume_from_checkpoint, training_args.output_dir)
    if resume:
        print(f"resuming from {resume}", file=sys.stderr)
    align = args.stage == "align"

    composed = args.vision_model is not None
    model, processor = load_model_and_processor(
        model_args.model_name_or_path,
        vision_model=args.vision_model,
        language_model=args.language_model,
        num_frames=args.num_frames,
        dtype=model_args.dtype,
        attn_implementation=model_args.attn_implementation,
        # An adapter needs its composed base on disk; a full checkpoint does not.
        composed_base_dir=os.path.join(training_args.output_dir, COMPOSED_BASE_DIR)
        if composed and model_args.use_peft
        else None,
        architecture={name: getattr(args, name) for name in ARCHITECTURE_FIELDS} if composed else None,
        chat_template=args.chat_template,
        projector_from=args.projector_from,
    )
    if align:
        freeze_for_alignment(model)
    else:
        freeze_for_training(model, train_vision_tower=args.train_vision_tower)
        if args.freeze_projector:
            freeze_projector(model)
    train_dataset, eval_dataset = training_datasets(
        args.train_file,
        args.eval_file,
        script_args.dataset_name,
        script_args.dataset_config,
        script_args.dataset_train_split,
        script_args.dataset_test_split if training_args.eval_strategy != "no" else None,
        args.video_root,
        args.skip_missing,
        prepare=prepare_alignment_rows if align else prepare_examples,
    )
    trainer = _trainer(model, processor, args, training_args, model_args, train_dataset, eval_dataset, callbacks)
    trainer.train(resume_from_checkpoint=resume)
    trainer.save_model(training_args.output_dir)
    if trainer.is_world_process_zero():
        _finish(trainer, processor, script_args, args, training_args, model_args, push_to_hub)
    trainer.end()  # trackers finished, the process group (several processes) released
    return trainer


def _trainer(
    model,
    processor,
    args: V2XumArguments,
    training_args: SFTConfig,
    model_args: ModelConfig,
    train_dataset,
    eval_dataset,
    callbacks: list | None = None,
) -> SFTTrainer:
    """The SFTTrainer of a stage: its collator, LoRA configuration and optimizer groups."""
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
            freeze_projector=args.freeze_projector,
        )
    cache = None
    if args.feature_cache:
        cache = open_feature_cache(
            args.feature_cache, model, processor, args.num_frames, args.decode_mode, train_dataset["video"]
        )
    collator_class = V2XumAlignmentCollator if args.stage == "align" else V2XumDataCollator
    collator = collator_class(
        processor,
        num_frames=args.num_frames,
        max_length=training_args.max_length,
        decode_mode=args.decode_mode,
        feature_cache=cache,
    )
    trainer = SFTTrainer(
        model=model,
        args=training_args,
        data_collator=collator,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        processing_class=processor,
        peft_config=peft_config,
        callbacks=[*([TimeBudget(args.max_train_minutes)] if args.max_train_minutes else []), *(callbacks or [])]
        or None,
    )
    if args.stage == "align":
        trainer.create_optimizer()
        trainer.optimizer = alignment_optimizer(trainer.optimizer, trainer.model)
    elif args.new_parts_learning_rate is not None:
        trainer.create_optimizer()
        trainer.optimizer = split_learning_rates(trainer.optimizer, trainer.model, args.new_parts_learning_rate)
    return trainer


def _finish(
    trainer: SFTTrainer,
    processor,
    script_args: ScriptArguments,
    args: V2XumArguments,
    training_args: SFTConfig,
    model_args: ModelConfig,
    push_to_hub: bool,
) -> None:
    """What a run leaves beside its weights: the stage-1 projector file, the card, the training videos; the push."""
    out = training_args.output_dir
    if args.stage == "align":
        save_aligned_projector(trainer.model, out)
    repo_id = training_args.hub_model_id or os.path.basename(os.path.abspath(out))
    data_name = _shown_path(args.train_file) if args.train_file else script_args.dataset_name
    method = training_method(
        args.stage,
        model_args.use_peft,
        args.train_vision_tower,
        (model_args.lora_r, model_args.lora_alpha),
        args.freeze_projector,
    )
    card = training_card(
        trainer,
        repo_id,
        base_model=model_args.model_name_or_path or [args.vision_model, args.language_model],
        vision_model=args.vision_model,
        language_model=args.language_model,
        data_name=data_name,
        num_frames=processor.video_processor.num_frames,
        method=method,
        adapter=model_args.use_peft,
        train_vision_tower=args.train_vision_tower,
    )
    # Written after training: TRL rewrites README.md at every checkpoint.
    card.save(os.path.join(out, "README.md"))
    write_training_videos(trainer.train_dataset["video"], out, data_name)
    if push_to_hub:
        push_model(
            out,
            repo_id,
            private=bool(training_args.hub_private_repo),
            token=training_args.hub_token,
            revision=training_args.hub_revision,
            card=card,
            base_model_id=args.base_model_id,
        )


def _shown_path(path: str) -> str:
    """A data file as the card names it: its folder and name (a full path is the trainer's machine's business)."""
    return os.path.join(os.path.basename(os.path.dirname(os.path.abspath(path))), os.path.basename(path))


def run(argv: list[str] | None = None, callbacks: list | None = None) -> SFTTrainer:
    """Parses `argv` (default: the command line; `--config` YAML included) and trains."""
    return main(*make_parser().parse_args_and_config(args=argv), callbacks=callbacks)


def cli(argv: list[str] | None = None) -> int:
    """`run` from the command line: a user's mistake (a bad value, a missing file, a refused row) is one `error:`
    line and exit 2, as in the `v2xum` command; anything else keeps its traceback."""
    try:
        run(argv)
    except USER_ERRORS as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(cli())
