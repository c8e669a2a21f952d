"""Training tokens per second of the shared SFT runner against a plain PyTorch loop over the same batches.

Both fine-tune the embedded SmolLM2-135M with the same LoRA adapter (same rank, targets and learning rate) on
the same chat examples (GCD sycophancy data), batch for batch: the plain loop tokenises each example through
the chat template, masks the prompt out of the labels, pads each batch to its longest row and takes AdamW
steps. The runner is `train_sft` (TRL's SFTTrainer); its time is what `train()` reports, so loading the model
and preparing the data count for neither side. Tokens are the non-padding tokens of the batches, counted once
and used for both. The last line is runner / plain tokens per second (target at least 0.8).

Usage: python benchmarks/sft_throughput.py [--steps 12] [--batch 8]
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch

from ttclab.models.catalog import load_causal_lm
from ttclab.tasks.gcd_sycophancy import training_pairs
from ttclab.training.inoculation import inoculate
from ttclab.training.sft import SFTSettings, train_sft


def batches(examples: list[dict], tokenizer, batch: int) -> list[dict[str, torch.Tensor]]:
    """Examples -> padded batches with the loss on the response only (what the runner trains on)."""
    rows = []
    for example in examples:
        prompt = tokenizer.apply_chat_template(example["prompt"], tokenize=False, add_generation_prompt=True)
        full = tokenizer.apply_chat_template(example["prompt"] + example["completion"], tokenize=False)
        ids = tokenizer(full)["input_ids"]
        start = len(tokenizer(prompt)["input_ids"])
        rows.append((ids, [-100] * start + ids[start:]))
    out = []
    for first in range(0, len(rows), batch):
        chunk = rows[first:first + batch]
        width = max(len(ids) for ids, _ in chunk)
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        out.append({
            "input_ids": torch.tensor([ids + [pad] * (width - len(ids)) for ids, _ in chunk]),
            "attention_mask": torch.tensor([[1] * len(ids) + [0] * (width - len(ids)) for ids, _ in chunk]),
            "labels": torch.tensor([labels + [-100] * (width - len(labels)) for _, labels in chunk]),
        })
    return out


def plain_loop(settings: SFTSettings, data: list[dict[str, torch.Tensor]]) -> float:
    """Seconds for one AdamW step per batch on a fresh LoRA model, written out by hand."""
    from peft import LoraConfig, get_peft_model

    model, _ = load_causal_lm("local")
    lora = LoraConfig(r=settings.rank, lora_alpha=settings.alpha, lora_dropout=settings.dropout,
                      target_modules=settings.target_modules, task_type="CAUSAL_LM")
    model = get_peft_model(model, lora)
    model.train()
    optimiser = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=settings.lr)
    start = time.perf_counter()
    for batch in data:
        loss = model(**batch).loss
        loss.backward()
        optimiser.step()
        optimiser.zero_grad()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--batch", type=int, default=8)
    args = parser.parse_args()
    torch.manual_seed(0)
    examples = inoculate(training_pairs(args.steps * args.batch, seed=0))
    settings = SFTSettings(rank=16, alpha=32, lr=1e-4, batch_size=args.batch, max_steps=args.steps,
                           save_steps=10_000, logging_steps=args.steps, progress=False)
    _, tokenizer = load_causal_lm("local")
    data = batches(examples, tokenizer, args.batch)
    tokens = sum(int(batch["attention_mask"].sum()) for batch in data)
    plain = plain_loop(settings, data)
    with tempfile.TemporaryDirectory() as folder:
        runner = train_sft("local", examples, folder, settings)["train_seconds"]
    print(f"{args.steps} steps of {args.batch} examples, {tokens} tokens")
    print(f"plain PyTorch loop: {plain:.1f} s, {tokens / plain:.0f} tokens/s")
    print(f"SFT runner (TRL):   {runner:.1f} s, {tokens / runner:.0f} tokens/s")
    print(f"runner / plain tokens per second: {plain / runner:.3f}")


if __name__ == "__main__":
    main()
