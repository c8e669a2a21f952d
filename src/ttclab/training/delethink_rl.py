"""Delethink RL (the Markovian Thinker): GRPO where every rollout thinks in chunks of a fixed size.

`thinking/delethink.py` traces at test time; here the model learns to write a state that survives the chunk
boundary. A trace is chunk 1 (up to C tokens after the query), then chunks whose prompt is the query, the first h
tokens of chunk 1 and the last m tokens of the chunk before (C - m new tokens each), at most I chunks; a chunk that
ends the turn ends the trace. The final answer is read from the chunks' text and rewarded (the same reward
callables as the GRPO runner: `f(completions, **columns) -> floats`).

Training rows and loss, as in the paper: every chunk is a row (its prompt, its tokens, their log-probabilities at
sampling time); the trace's advantage, its reward minus its group's mean (Dr. GRPO: not divided by the group's
spread), is shared by every chunk of the trace; a trace's loss is the clipped policy-gradient term summed over all
its chunks' tokens and divided by the trace's total response tokens, then averaged over the traces of the batch.
One optimiser step per batch of groups, on-policy, with LoRA (or every weight) like the GRPO runner.

The GRPO runner's TRL trainer wants one completion per row, so this loop is its own, kept small: sampling with
`model.generate`, scoring, one loss, `metrics.jsonl` and a checkpoint after every step (a rerun resumes).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ttclab.errors import UserError
from ttclab.extras import requires
from ttclab.files import atomic_write
from ttclab.specs import check_count
from ttclab.training.grpo import Reward, reward_values
from ttclab.training.horizon import final_answer_reward
from ttclab.training.presets import check_run_folder, preset_values

__all__ = ["PRESETS", "Chunk", "Recipe", "Trace", "preset", "rollout", "run", "trace_loss"]


@dataclass(frozen=True)
class Recipe:
    """Delethink's tracing (C, m, I, h) and the GRPO settings around it; the defaults fit a CPU demo."""

    model: str = "local"
    chunk: int = 48  # C
    carryover: int = 24  # m
    iterations: int = 3  # I
    head: int = 8  # h
    steps: int = 6
    prompts_per_step: int = 2
    num_generations: int = 4  # traces per prompt: one group
    horizon: int = 1  # chain tasks (data/chains.py) of this many steps
    ceiling: int = 20
    lr: float = 1e-4
    rank: int | None = 8  # LoRA rank; None trains every weight
    alpha: int = 16
    epsilon: float = 0.2
    temperature: float = 1.0
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        for name in ("chunk", "carryover", "iterations", "steps", "prompts_per_step", "num_generations", "horizon",
                     "ceiling"):
            check_count(f"delethink {name}", getattr(self, name))
        if isinstance(self.head, bool) or not isinstance(self.head, int) or self.head < 0:
            raise UserError(f"invalid delethink head {self.head!r}: use a whole number >= 0")
        if self.carryover >= self.chunk:
            raise UserError(f"carryover {self.carryover} must be smaller than chunk {self.chunk}: a chunk adds "
                            "chunk - carryover new tokens")
        if self.num_generations < 2:
            raise UserError("num_generations must be at least 2: a group of one has no advantage")

    @property
    def thinking(self) -> int:
        """The most a trace can think: C + (I - 1)(C - m)."""
        return self.chunk + (self.iterations - 1) * (self.chunk - self.carryover)


PRESETS: dict[str, dict[str, Any]] = {
    # the embedded SmolLM2-135M on 2 CPU cores: the loop runs and learns from what little signal there is
    "demo": {},
    # the paper's setting (docs/strategies.md): R1-Distill-1.5B, C = 8192, m = 4096, I = 5 (24K of thinking),
    # 8 traces per prompt, lr 1e-6, every weight, 1,000 steps, on GPUs
    "gpu": {"model": "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B", "chunk": 8192, "carryover": 4096,
            "iterations": 5, "head": 100, "steps": 1000, "prompts_per_step": 16, "num_generations": 8,
            "horizon": 3, "ceiling": 9999, "lr": 1e-6, "rank": None, "device": "cuda"},
}


def preset(name: str, **overrides: Any) -> Recipe:
    return Recipe(**preset_values(PRESETS, name, Recipe, "delethink", overrides))


@dataclass
class Chunk:
    """One training row: the chunk's prompt, the tokens it generated, their log-probabilities when sampled."""

    prompt_ids: list[int]
    completion_ids: list[int]
    old_logprobs: list[float] = field(default_factory=list)


@dataclass
class Trace:
    chunks: list[Chunk]
    text: str  # every chunk's tokens, decoded in order
    ended: bool  # the model ended its turn inside a chunk

    @property
    def response_tokens(self) -> int:
        return sum(len(chunk.completion_ids) for chunk in self.chunks)


def rollout(model: Any, tokenizer: Any, query_ids: list[int], recipe: Recipe) -> Trace:
    """One Delethink trace: chunk 1 from the query, then the query + head + last m tokens, at most I chunks."""
    import torch

    chunks: list[Chunk] = []
    head: list[int] = []
    carry: list[int] = []
    eos = {tokenizer.eos_token_id, *([tokenizer.pad_token_id] if tokenizer.pad_token_id is not None else [])}
    for index in range(recipe.iterations):
        prompt = list(query_ids) if index == 0 else [*query_ids, *head, *carry]
        room = recipe.chunk if index == 0 else recipe.chunk - recipe.carryover
        with torch.no_grad():
            output = model.generate(torch.tensor([prompt], device=model.device), max_new_tokens=room, do_sample=True,
                                    temperature=recipe.temperature, top_k=0, top_p=1.0,
                                    pad_token_id=tokenizer.eos_token_id)
        new = output[0, len(prompt):].tolist()
        ended = any(token in eos for token in new)
        if ended:
            new = new[: next(i for i, token in enumerate(new) if token in eos) + 1]  # up to and with the end
        chunks.append(Chunk(prompt, new))
        if ended:
            break
        if index == 0:
            head = new[: min(recipe.head, recipe.chunk - recipe.carryover)]
        carry = (carry + new)[-recipe.carryover:]
    for chunk in chunks:
        chunk.old_logprobs = token_logprobs(model, chunk.prompt_ids, chunk.completion_ids).tolist()
    text = tokenizer.decode([t for chunk in chunks for t in chunk.completion_ids], skip_special_tokens=True)
    return Trace(chunks, text, ended)


def token_logprobs(model: Any, prompt_ids: list[int], completion_ids: list[int], grad: bool = False) -> Any:
    """log p(each completion token | everything before it) under `model` (a 1-D tensor)."""
    import torch

    ids = torch.tensor([[*prompt_ids, *completion_ids]], device=model.device)
    with torch.set_grad_enabled(grad):
        logits = model(input_ids=ids).logits[0, len(prompt_ids) - 1: -1].float()
        picked = torch.log_softmax(logits, dim=-1).gather(1, ids[0, len(prompt_ids):].unsqueeze(1)).squeeze(1)
    return picked if grad else picked.detach().cpu()


def advantages(rewards: Sequence[float], group: int) -> list[float]:
    """Each trace's reward minus the mean of its group (consecutive `group` traces share a prompt)."""
    out = []
    for start in range(0, len(rewards), group):
        block = rewards[start:start + group]
        mean = sum(block) / len(block)
        out += [reward - mean for reward in block]
    return out


def trace_loss(new_logprobs: Sequence[Any], old_logprobs: Sequence[Any], advantage: float, epsilon: float) -> Any:
    """The clipped policy-gradient loss of one trace: summed over the tokens of all its chunks (each chunk's new and
    old log-probabilities), divided by its total response tokens; the advantage is the trace's, shared by all."""
    import torch

    new = torch.cat([torch.as_tensor(chunk) for chunk in new_logprobs])
    old = torch.cat([torch.as_tensor(chunk, dtype=new.dtype) for chunk in old_logprobs]).to(new.device)
    if new.numel() == 0:
        return new.sum()
    ratio = torch.exp(new - old)
    clipped = torch.clamp(ratio, 1 - epsilon, 1 + epsilon)
    per_token = -torch.minimum(ratio * advantage, clipped * advantage)
    return per_token.sum() / new.numel()


def chain_rows(recipe: Recipe, step: int) -> list[dict[str, Any]]:
    """The step's prompts: chains of the recipe's horizon, with their answers, from seeds evaluation never uses."""
    from ttclab.data.chains import chain_prompt, generate_chains

    chains = generate_chains(recipe.prompts_per_step, recipe.horizon, seed=20_000 + 1_000 * recipe.seed + step,
                             ceiling=recipe.ceiling)
    return [{"prompt": chain_prompt(chain) + " Think briefly, then give it as <answer>N</answer>.",
             "answer": chain.answer} for chain in chains]


def run(recipe: Recipe, out: Path | str, rewards: Sequence[Reward] = (final_answer_reward,),
        rows: Callable[[Recipe, int], list[dict[str, Any]]] = chain_rows) -> dict[str, Any]:
    """Train (or resume) in `out`: a checkpoint and a `metrics.jsonl` row after every step, the adapter (or model)
    at the end. `rows(recipe, step)` gives a step's prompts with the columns the rewards read."""
    import torch

    from ttclab.models.catalog import load_causal_lm

    out = Path(out)
    check_run_folder(out, asdict(recipe))
    random.seed(recipe.seed)
    torch.manual_seed(recipe.seed)
    model, tokenizer = load_causal_lm(recipe.model, device=recipe.device)
    if recipe.rank is not None:
        with requires("train"):
            from peft import LoraConfig, get_peft_model
        model = get_peft_model(model, LoraConfig(r=recipe.rank, lora_alpha=recipe.alpha, target_modules="all-linear",
                                                 task_type="CAUSAL_LM"))
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=recipe.lr)
    checkpoint, metrics = out / "checkpoint.pt", out / "metrics.jsonl"
    start = 0
    if checkpoint.exists():
        saved = torch.load(checkpoint, weights_only=False)
        model.load_state_dict(saved["model"], strict=False)
        optimizer.load_state_dict(saved["optimizer"])
        torch.set_rng_state(saved["rng"])
        start = saved["step"]
    history = [json.loads(line) for line in metrics.read_text().splitlines()][:start] if metrics.exists() else []
    for step in range(start, recipe.steps):
        history.append(train_step(model, tokenizer, optimizer, recipe, rows(recipe, step), rewards, step))
        atomic_write(metrics, "".join(json.dumps(row) + "\n" for row in history))
        trainable = {k: v for k, v in model.state_dict().items() if "lora" in k or recipe.rank is None}
        torch.save({"model": trainable, "optimizer": optimizer.state_dict(), "rng": torch.get_rng_state(),
                    "step": step + 1}, checkpoint)
    folder = out / ("adapter" if recipe.rank is not None else "model")
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return {"model": str(folder), "steps": recipe.steps, "log": history, "recipe": asdict(recipe)}


def train_step(model: Any, tokenizer: Any, optimizer: Any, recipe: Recipe, rows: list[dict[str, Any]],
               rewards: Sequence[Reward], step: int) -> dict[str, Any]:
    """Sample a group of traces per prompt, score them, and take one step on the traces' mean loss."""
    import torch

    model.eval()
    traces, columns = [], {key: [] for key in rows[0] if key != "prompt"}
    for row in rows:
        messages = [{"role": "user", "content": row["prompt"]}]
        text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        query = tokenizer.encode(text, add_special_tokens=False)
        for _ in range(recipe.num_generations):
            traces.append(rollout(model, tokenizer, query, recipe))
            for key in columns:
                columns[key].append(row[key])
    texts = [trace.text for trace in traces]
    scores = [0.0] * len(traces)
    for reward in rewards:
        scores = [a + b for a, b in zip(scores, reward_values(reward, texts, **columns), strict=True)]
    advantage = advantages(scores, recipe.num_generations)
    model.train()
    optimizer.zero_grad()
    losses = []
    for trace, value in zip(traces, advantage, strict=True):
        new = [token_logprobs(model, c.prompt_ids, c.completion_ids, grad=True) for c in trace.chunks]
        losses.append(trace_loss(new, [c.old_logprobs for c in trace.chunks], value, recipe.epsilon))
    loss = torch.stack(losses).mean()
    if any(value != 0 for value in advantage):
        loss.backward()
        optimizer.step()
    groups = [scores[i:i + recipe.num_generations] for i in range(0, len(scores), recipe.num_generations)]
    return {"step": step + 1, "loss": float(loss.detach()), "reward": sum(scores) / len(scores),
            "zero_advantage_groups": sum(max(g) == min(g) for g in groups) / len(groups),
            "chunks_per_trace": sum(len(t.chunks) for t in traces) / len(traces),
            "response_tokens": sum(t.response_tokens for t in traces) / len(traces),
            "ended_in_a_chunk": sum(t.ended for t in traces) / len(traces)}
