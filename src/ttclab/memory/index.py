"""Nearest entries by meaning: a memory's texts embedded once and kept as one matrix.

A query is then one matrix-vector product and a partial sort, instead of a pass over the entries in
Python (`benchmarks/memory_retrieval.py` measures the difference). Entries are embedded when added or
changed (texts already seen reuse their vector), so retrieval never re-embeds the memory.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from ttclab.memory.embeddings import DIMENSIONS, Embedder, default_embedder


class VectorIndex:
    def __init__(self, embedder: Embedder | None = None) -> None:
        self._embedder = embedder
        self.keys: list[str] = []
        self.texts: list[str] = []
        self.matrix = np.zeros((0, DIMENSIONS), dtype=np.float32)
        self._cache: dict[str, np.ndarray] = {}

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = default_embedder()
        return self._embedder

    def __len__(self) -> int:
        return len(self.keys)

    def vectors(self, texts: list[str]) -> np.ndarray:
        """Unit vectors for `texts`, embedding only the ones not seen before."""
        missing = list(dict.fromkeys(text for text in texts if text not in self._cache))
        for text, vector in zip(missing, self.embedder.encode(missing), strict=True):
            self._cache[text] = vector
        if not texts:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        return np.stack([self._cache[text] for text in texts])

    def sync(self, entries: Iterable[tuple[str, str]]) -> None:
        """Make the index hold exactly these (key, text) entries, in this order."""
        pairs = list(entries)
        keys, texts = [key for key, _ in pairs], [text for _, text in pairs]
        if keys == self.keys and texts == self.texts:
            return
        self.keys, self.texts = keys, texts
        self.matrix = self.vectors(texts)

    def similarities(self, query: str | np.ndarray) -> np.ndarray:
        vector = self.vectors([query])[0] if isinstance(query, str) else query
        return self.matrix @ vector

    def search(self, query: str | np.ndarray, k: int) -> list[tuple[str, float]]:
        """The k entries closest to `query` (a text or a unit vector), best first."""
        if not self.keys or k < 1:
            return []
        scores = self.similarities(query)
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(self.keys[i], float(scores[i])) for i in top]

    def pairs_above(self, threshold: float) -> list[tuple[int, int, float]]:
        """Index pairs (i < j) whose cosine similarity is at least `threshold` (for de-duplication)."""
        if len(self.keys) < 2:
            return []
        similar = self.matrix @ self.matrix.T
        rows, cols = np.nonzero(np.triu(similar >= threshold, k=1))
        return [(int(i), int(j), float(similar[i, j])) for i, j in zip(rows, cols, strict=True)]
