import pytest
import torch

from modeling_v2xum import KeyframeLogitsProcessor


START, NUM, PLACEHOLDER, VOCAB = 10, 20, 5, 40


def run(processor, prompt, steps, forced=None):
    """Greedy decoding where every frame token is preferred, later frames first unless masked."""
    ids = torch.tensor(prompt)
    for step in range(steps):
        scores = torch.zeros(ids.shape[0], VOCAB)
        scores[:, START : START + NUM] = torch.linspace(1, 2, NUM)[torch.randperm(NUM)] + 5  # frames look best
        scores[:, PLACEHOLDER] = 100
        scores = processor(ids, scores)
        ids = torch.cat([ids, scores.argmax(-1, keepdim=True)], dim=1)
    return ids[:, len(prompt[0]) :]


def frames_in(row):
    return [t - START for t in row.tolist() if START <= t < START + NUM]


def test_only_present_frames_strictly_increasing(seeded):
    prompt = [
        [1, START + 0, PLACEHOLDER, START + 1, PLACEHOLDER, START + 2, PLACEHOLDER, START + 7, PLACEHOLDER, 2],
        [3, 3, START + 0, PLACEHOLDER, START + 4, PLACEHOLDER, START + 5, PLACEHOLDER, START + 6, PLACEHOLDER],
    ]
    out = run(KeyframeLogitsProcessor(START, NUM, len(prompt[0]), video_token_id=PLACEHOLDER), prompt, 8)
    for row, allowed in zip(out, [{0, 1, 2, 7}, {0, 4, 5, 6}]):
        frames = frames_in(row)
        assert frames and set(frames) <= allowed
        assert frames == sorted(set(frames))
        assert PLACEHOLDER not in row.tolist()


def test_text_task_forbids_frames_and_max_keyframes_caps(seeded):
    prompt = [[1] + [START + i for i in range(NUM)]]
    text_only = run(
        KeyframeLogitsProcessor(START, NUM, len(prompt[0]), allow_keyframes=False, video_token_id=PLACEHOLDER),
        prompt,
        6,
    )
    assert frames_in(text_only[0]) == []
    capped = run(
        KeyframeLogitsProcessor(START, NUM, len(prompt[0]), max_keyframes=2, video_token_id=PLACEHOLDER), prompt, 6
    )
    assert len(frames_in(capped[0])) == 2


def test_exact_mask_after_a_generated_frame():
    prompt = torch.tensor([[START + 0, START + 3, START + 5, START + 9]])
    processor = KeyframeLogitsProcessor(START, NUM, prompt_length=4)
    ids = torch.cat([prompt, torch.tensor([[START + 3, 1]])], dim=1)
    scores = processor(ids, torch.zeros(1, VOCAB))
    allowed = [i for i in range(NUM) if scores[0, START + i] == 0]
    assert allowed == [5, 9]
    assert torch.all(scores[0, :START] == 0)


def test_model_generate_respects_the_prompt_frames(tiny_model, tiny_processor, videos):
    batch = tiny_processor(
        text=[tiny_processor.build_prompt("both")] * 2, videos=[videos["long"], videos["short"]], return_tensors="pt"
    )
    with torch.no_grad():  # make frame tokens irresistible so the constraint is what decides
        saved = tiny_model.lm_head.weight.clone()
        start = tiny_model.config.frame_token_start_id
        tiny_model.lm_head.weight[start : start + 100] = tiny_model.lm_head.weight[start] * 0 + 3.0
    try:
        length = batch["input_ids"].shape[1]
        both = tiny_model.generate(**batch, max_new_tokens=20, do_sample=False)[:, length:]
        text = tiny_model.generate(**batch, max_new_tokens=20, do_sample=False, summary_task="text")[:, length:]
        free = tiny_model.generate(**batch, max_new_tokens=20, do_sample=False, constrain_keyframes=False)
    finally:
        with torch.no_grad():
            tiny_model.lm_head.weight.copy_(saved)
    frames = [[t - start for t in row.tolist() if start <= t < start + 100] for row in both]
    assert frames[0] and frames[0] == sorted(set(frames[0])) and max(frames[0]) < 8
    assert frames[1] and frames[1] == sorted(set(frames[1])) and max(frames[1]) < 7
    assert not any(start <= t < start + 100 for t in text.flatten().tolist())
    unconstrained = [t - start for t in free[0, length:].tolist() if start <= t < start + 100]
    assert unconstrained != sorted(set(unconstrained))  # without the constraint the model repeats frames


def test_invalid_arguments():
    with pytest.raises(ValueError, match="max_keyframes"):
        KeyframeLogitsProcessor(START, NUM, 3, max_keyframes=-1)


def test_video_answers_cannot_end_before_a_keyframe():
    import torch

    from modeling_v2xum.generation_v2xum import KeyframeLogitsProcessor

    processor = KeyframeLogitsProcessor(
        frame_token_start_id=10, num_frame_tokens=4, prompt_length=3, min_keyframes=1, eos_token_id=2
    )
    prompt = torch.tensor([[10, 11, 5]])  # frames 0 and 1 are in the prompt
    scores = processor(prompt, torch.zeros(1, 20))
    assert scores[0, 2] == -float("inf")  # no keyframe yet: EOS forbidden
    after = processor(torch.tensor([[10, 11, 5, 11]]), torch.zeros(1, 20))
    assert after[0, 2] == 0  # a keyframe was named: EOS allowed
    stuck = processor(torch.tensor([[10, 11, 5, 7]]), torch.zeros(1, 20))
    assert stuck[0, 2] == -float("inf")
    # TEXT answers are never held back.
    text_only = KeyframeLogitsProcessor(10, 4, 3, allow_keyframes=False, min_keyframes=1, eos_token_id=2)
    assert text_only(prompt, torch.zeros(1, 20))[0, 2] == 0
