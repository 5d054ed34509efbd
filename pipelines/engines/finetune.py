"""IL-SFT: fine-tune a generator on (prompt, answer) samples with transformers + peft.

Completion-only loss: the prompt's tokens are context, only the answer's tokens (and the
end-of-turn token that stops vLLM) are learned. Prompt and answer are tokenized apart,
as vLLM sees them at serving time (it tokenizes the prompt and generates the rest).

Deterministic: a fixed seed orders the batches and initializes the adapters; torch runs
deterministic kernels on a fixed number of threads; the weights are written with fixed
settings, so the same samples, seed and code give the same weights' sha256.

On CPU everything trains in float32: bfloat16 took over 100 s for one LoRA step of
8 x 230 tokens on this 2-core AVX2 machine, float32 14–18 s (benchmarks/finetune_cost.py).
On a GPU (`device="cuda"`) the base is bfloat16 and LoRA adapters float32; the adapters are
then merged into a float32 copy of the base, as merging into bfloat16 would round away
most of a small update. The output is always a float32 Hugging Face folder vLLM loads.
"""
from __future__ import annotations

import math
import random
import resource
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from pipelines.core.config import TrainConfig
from pipelines.core.progress import ProgressLine


LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj")
# Files of the base folder a trained model keeps as they are (tokenizer, chat template).
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "special_tokens_map.json",
                   "generation_config.json")


@dataclass(frozen=True)
class Encoded:
    input_ids: tuple[int, ...]
    labels: tuple[int, ...]  # -100 on prompt tokens


@dataclass
class TrainingRun:
    """What a training run did, for the model card and the cost report."""

    method: str
    device: str
    samples: int
    samples_over_length: int
    epochs: int
    steps: int
    tokens: int  # tokens processed (prompt + answer, all epochs)
    answer_tokens: int  # tokens the loss was computed on
    seconds: float
    loss_curve: list[float] = field(default_factory=list)  # mean loss per step

    @property
    def tokens_per_s(self) -> float:
        return round(self.tokens / self.seconds, 1) if self.seconds else 0.0

    def to_dict(self) -> dict:
        return {"method": self.method, "device": self.device, "samples": self.samples,
                "samples_over_length": self.samples_over_length, "epochs": self.epochs, "steps": self.steps,
                "tokens": self.tokens, "answer_tokens": self.answer_tokens, "seconds": round(self.seconds, 1),
                "tokens_per_s": self.tokens_per_s, "peak_rss_mb": peak_rss_mb(),
                "loss_first": self.loss_curve[0] if self.loss_curve else None,
                "loss_last": self.loss_curve[-1] if self.loss_curve else None,
                "loss_curve": [round(x, 4) for x in self.loss_curve]}


def peak_rss_mb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def encode(pairs: Sequence[tuple[str, str]], tokenizer, max_seq_tokens: int) -> tuple[list[Encoded], int]:
    """(prompt, answer) pairs → token ids with completion-only labels, and how many pairs
    were longer than `max_seq_tokens` (left out, not cut)."""
    out, over = [], 0
    for prompt, answer in pairs:
        p = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        a = tokenizer(answer, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        if len(p) + len(a) > max_seq_tokens:
            over += 1
            continue
        out.append(Encoded(tuple(p + a), tuple([-100] * len(p) + a)))
    return out, over


def batches(n: int, batch_size: int, epochs: int, seed: int) -> list[list[int]]:
    """Sample indices per step: each epoch a seeded shuffle, cut into batches."""
    rng, steps = random.Random(seed), []
    for _ in range(epochs):
        order = list(range(n))
        rng.shuffle(order)
        steps.extend(order[i:i + batch_size] for i in range(0, n, batch_size))
    return steps


def learning_rate_at(step: int, total: int, warmup: int) -> float:
    """Linear warm-up, then linear decay to 0: the share of the peak rate at `step`."""
    if step < warmup:
        return (step + 1) / warmup
    return max(0.0, (total - step) / max(1, total - warmup))


def _collate(batch: list[Encoded], pad_id: int, torch):
    width = max(len(e.input_ids) for e in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), -100, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for row, e in enumerate(batch):
        n = len(e.input_ids)
        ids[row, :n] = torch.tensor(e.input_ids)
        labels[row, :n] = torch.tensor(e.labels)
        mask[row, :n] = 1
    return ids, mask, labels


def finetune(base: str, pairs: Sequence[tuple[str, str]], out_dir: str | Path, cfg: TrainConfig,
             device: str = "cpu", progress_every_s: float = 10.0) -> TrainingRun:
    """Trains on `pairs` from the model folder `base` and writes a full model folder to
    `out_dir` (weights, config, tokenizer). Raises ValueError if no pair fits."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    torch.use_deterministic_algorithms(True)
    tokenizer = AutoTokenizer.from_pretrained(base)
    encoded, over = encode(pairs, tokenizer, cfg.max_seq_tokens)
    if not encoded:
        raise ValueError(f"no training sample fits train.max_seq_tokens={cfg.max_seq_tokens} "
                         f"({len(pairs)} samples, {over} too long)")
    lora = cfg.method == "lora"
    train_dtype = torch.float32 if device == "cpu" else torch.bfloat16
    model = AutoModelForCausalLM.from_pretrained(base, dtype=train_dtype).to(device)
    if lora:
        model = _with_adapters(model, cfg)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=0.0)
    plan = batches(len(encoded), cfg.batch_size, cfg.epochs, cfg.seed)
    warmup = math.ceil(cfg.warmup_share * len(plan))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: learning_rate_at(s, len(plan), warmup))
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    progress = ProgressLine("train", unit="steps", every_s=progress_every_s)
    run = TrainingRun(method=cfg.method, device=device, samples=len(encoded), samples_over_length=over,
                      epochs=cfg.epochs, steps=len(plan), tokens=0, answer_tokens=0, seconds=0.0)
    started = time.perf_counter()
    for step, indices in enumerate(plan):
        batch = [encoded[i] for i in indices]
        ids, mask, labels = (t.to(device) for t in _collate(batch, pad_id, torch))
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        run.loss_curve.append(float(loss.detach()))
        run.tokens += int(mask.sum())
        run.answer_tokens += int((labels != -100).sum())
        progress.add(1, total=len(plan), tokens=int(mask.sum()), force=step + 1 == len(plan),
                     note=f"loss {run.loss_curve[-1]:.4f}")
    run.seconds = time.perf_counter() - started
    _save(model, base, out_dir, cfg, lora, train_dtype, torch)
    return run


def _with_adapters(model, cfg: TrainConfig):
    from peft import LoraConfig, get_peft_model

    return get_peft_model(model, LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=0.0,
                                            target_modules=list(LORA_TARGETS), task_type="CAUSAL_LM"))


def _save(model, base: str, out_dir: str | Path, cfg: TrainConfig, lora: bool, train_dtype, torch) -> None:
    """Writes float32 full weights, LoRA adapters merged in float32."""
    from transformers import AutoModelForCausalLM

    if lora and train_dtype == torch.float32:
        model = model.merge_and_unload()
    elif lora:
        from peft import get_peft_model_state_dict, set_peft_model_state_dict

        adapters = {k: v.detach().to("cpu", torch.float32) for k, v in get_peft_model_state_dict(model).items()}
        merged = _with_adapters(AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32), cfg)
        set_peft_model_state_dict(merged, adapters)
        model = merged.merge_and_unload()
    model = model.to("cpu", torch.float32)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    for name in TOKENIZER_FILES:
        if (Path(base) / name).exists():
            shutil.copyfile(Path(base) / name, out / name)
