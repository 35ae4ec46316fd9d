"""The text data: token streams for train / validation / test, packed into fixed-length blocks.

The built-in corpus is a random order-k Markov source over ``markov.vocab`` symbols: the next
token's distribution, given the previous k, is a Dirichlet draw per context (order 2 by default,
so a model needs attention, not only its embeddings, to predict it). Its entropy rate
H = sum_s pi_s H(P_s) (pi the stationary distribution over contexts s) is known exactly. The
streams start in the stationary distribution, so a block's i-th prediction (i < k) faces
H(X_{i+1} | X_1..X_i) and every later one H: :func:`block_floor` averages them, and no model can
reach a test perplexity below exp(that) in expectation. The report shows the floor.

Hub datasets and local files go through ``datasets`` and the model's tokenizer (or one token
per UTF-8 byte, ``dataset.tokenizer=bytes``) and are concatenated, then cut to the configured
numbers of tokens, so one "epoch" is a fixed number of blocks whatever the source.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, Optional

import numpy as np
import torch

from benchmark.errors import ConfigError
from benchmark.lm.schema import MarkovConf, TextDatasetConf

SPLITS = ("train", "validation", "test")


def transition_matrix(markov: MarkovConf) -> np.ndarray:
    """P[s, j] = p(next = j | context s), s the previous k tokens read as a base-V number (oldest first)."""
    rng = np.random.default_rng(markov.seed)
    return rng.dirichlet(np.full(markov.vocab, markov.concentration), size=markov.vocab**markov.order)


def _context_chain(matrix: np.ndarray) -> np.ndarray:
    """The chain over contexts: s -> (s * V + j) mod V^k with probability P[s, j]."""
    contexts, vocab = matrix.shape
    chain = np.zeros((contexts, contexts))
    for s in range(contexts):
        chain[s, (s * vocab + np.arange(vocab)) % contexts] += matrix[s]
    return chain


def stationary(matrix: np.ndarray) -> np.ndarray:
    """pi over contexts with pi C = pi (C the context chain), by power iteration of the lazy chain
    (I + C) / 2 (the same pi, never periodic) with elementwise products and sums only. An
    eigen-solver's last digits move with LAPACK's thread count, and the floor in the records must
    be the same number in a one-CPU Slurm job and in a two-thread process."""
    chain = _context_chain(matrix)
    pi = np.full(len(chain), 1.0 / len(chain))
    for _ in range(100_000):
        step = 0.5 * (pi + (pi[:, None] * chain).sum(axis=0))
        step /= step.sum()
        if np.abs(step - pi).max() < 1e-15:
            return step
        pi = step
    return pi


def _entropy(p: np.ndarray) -> float:
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


def entropy_rate(matrix: np.ndarray) -> float:
    """H = sum_s pi_s H(P_s), in nats per token."""
    return float(sum(w * _entropy(row) for w, row in zip(stationary(matrix), matrix)))


def block_floor(matrix: np.ndarray, order: int, block: int) -> float:
    """The least expected loss per prediction of a block (nats): predictions 1..k-1 see only the
    block's first i tokens, H(X_{i+1}|X_1..X_i) = H_{i+1} - H_i from the stationary marginals."""
    vocab = matrix.shape[1]
    pi = stationary(matrix).reshape((vocab,) * order)
    marginal = [_entropy(pi.sum(axis=tuple(range(m, order))).ravel()) for m in range(1, order + 1)]
    early = [marginal[i] - marginal[i - 1] for i in range(1, min(order, block - 1) + 1) if i < order]
    rate = entropy_rate(matrix)
    return (sum(early) + (block - 1 - len(early)) * rate) / (block - 1)


def markov_stream(markov: MarkovConf, length: int, stream_seed: int) -> np.ndarray:
    """``length`` tokens of the source from a stationary start; each split has its own stream seed."""
    matrix = transition_matrix(markov)
    vocab, contexts = markov.vocab, matrix.shape[0]
    cumulative = np.cumsum(matrix, axis=1)
    rng = np.random.default_rng([markov.seed, stream_seed])
    uniforms = rng.random(length + 1)
    context = min(int(np.searchsorted(np.cumsum(stationary(matrix)), uniforms[0])), contexts - 1)
    first = [(context // vocab**(markov.order - 1 - i)) % vocab for i in range(markov.order)]
    tokens = np.empty(length, dtype=np.int64)
    tokens[: min(length, markov.order)] = first[: length]
    for t in range(markov.order, length):
        nxt = min(int(np.searchsorted(cumulative[context], uniforms[t + 1])), vocab - 1)
        tokens[t] = nxt
        context = (context * vocab + nxt) % contexts
    return tokens


def floor(dataset: TextDatasetConf) -> Optional[float]:
    """The test-perplexity floor of the built-in source for this block size; None for real text (unknown)."""
    if dataset.source != "markov":
        return None
    return math.exp(block_floor(transition_matrix(dataset.markov), dataset.markov.order, dataset.block_size))


def vocab_size(dataset: TextDatasetConf) -> Optional[int]:
    """Token ids the data can hold when no model tokenizer decides it (the Markov alphabet, bytes)."""
    if dataset.source == "markov":
        return dataset.markov.vocab
    return 256 if dataset.tokenizer == "bytes" else None


@dataclass
class TokenSplits:
    """The token streams of the three splits (1-D int64 tensors)."""

    streams: Dict[str, torch.Tensor]

    def blocks(self, split: str, block_size: int) -> torch.Tensor:
        """The split packed into whole blocks (the tail shorter than a block is dropped)."""
        stream = self.streams[split]
        count = len(stream) // block_size
        return stream[: count * block_size].view(count, block_size)


def _lengths(dataset: TextDatasetConf) -> Dict[str, int]:
    return {"train": dataset.train_tokens, "validation": dataset.val_tokens, "test": dataset.test_tokens}


def load_tokens(dataset: TextDatasetConf, model_name: Optional[str]) -> TokenSplits:
    """The three token streams of the configured source, cut to their configured lengths."""
    lengths = _lengths(dataset)
    if dataset.source == "markov":
        return TokenSplits({s: torch.from_numpy(markov_stream(dataset.markov, n, i)) for i, (s, n) in enumerate(lengths.items())})
    from benchmark.lm.text import read_texts, tokenize

    texts = read_texts(dataset)
    streams = {}
    for split, n in lengths.items():
        if n == 0:
            streams[split] = torch.zeros(0, dtype=torch.int64)
            continue
        ids = tokenize(texts[split], dataset, model_name, n)
        if len(ids) < min(n, dataset.block_size):  # checked as the data opens, before anything trains
            where = (f"dataset.files.{split}" if dataset.source == "files" else
                     f"dataset.path={dataset.path!r} split {dataset.split_names.get(split, split)!r}")
            raise ConfigError(f"{where} holds {len(ids)} tokens, fewer than one block of "
                              f"dataset.block_size={dataset.block_size}")
        streams[split] = torch.tensor(ids[:n], dtype=torch.int64)
    return TokenSplits(streams)


class BlockLoader:
    """Batches of token blocks; each epoch's order is a permutation drawn from (seed, epoch), so a
    resumed run sees exactly the batches of an uninterrupted one."""

    def __init__(self, blocks: torch.Tensor, batch_size: int, device: torch.device, seed: Optional[int]) -> None:
        self.blocks, self.batch_size, self.device, self.seed = blocks, batch_size, device, seed

    def __len__(self) -> int:
        return math.ceil(len(self.blocks) / self.batch_size)

    def epoch(self, epoch: int):
        order = torch.arange(len(self.blocks))
        if self.seed is not None:
            order = torch.randperm(len(self.blocks), generator=torch.Generator().manual_seed(self.seed * 100_003 + epoch))
        for start in range(0, len(order), self.batch_size):
            yield self.blocks[order[start:start + self.batch_size]].to(self.device)
