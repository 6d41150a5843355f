"""The classifier network: a BERT-style Transformer encoder with two attention-pooling heads.

One readable file (nanoGPT style). The encoder mirrors all-MiniLM-L6-v2 (6 layers, 384 wide, 12 heads,
post-LayerNorm) so its pretrained weights load one-to-one; attention runs through
`torch.nn.functional.scaled_dot_product_attention`, which picks flash / memory-efficient kernels on CUDA.

Each task head pools the token states with its own learned query ("attention pooling"): the pooling
weights are exactly what the sentiment decision reads, so they double as the highlighted words.
The query starts at zero, which makes the first step identical to masked mean pooling.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass(frozen=True)
class EncoderConfig:
    vocab_size: int = 30522
    hidden: int = 384
    layers: int = 6
    heads: int = 12
    intermediate: int = 1536
    max_positions: int = 512
    type_vocab: int = 2
    layer_norm_eps: float = 1e-12
    dropout: float = 0.1
    n_topics: int = 20
    n_sentiments: int = 3
    # A second sentiment head for SEntFiN during training: its entity-level labels on Indian market
    # headlines follow other conventions than the tweets' bullish/bearish, so it shares the encoder
    # (more data) but not the decision layer. Unused at inference.
    aux_sentiment_head: bool = False

    def to_dict(self) -> dict[str, int | float]:
        return asdict(self)


class SelfAttention(nn.Module):
    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__()
        self.heads = cfg.heads
        self.qkv = nn.Linear(cfg.hidden, 3 * cfg.hidden)  # fused q, k, v: one matmul instead of three
        self.out = nn.Linear(cfg.hidden, cfg.hidden)
        self.dropout = cfg.dropout

    def forward(self, x: Tensor, mask: Tensor | None) -> Tensor:
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=-1)  # 3 x (B, T, C)
        # (B, T, C) -> (B, heads, T, C/heads)
        q, k, v = (t.view(B, T, self.heads, C // self.heads).transpose(1, 2) for t in (q, k, v))
        drop = self.dropout if self.training else 0.0
        # mask is None when the batch has no padding, which lets CUDA use the flash kernel
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=drop)  # (B, h, T, C/h)
        y = y.transpose(1, 2).reshape(B, T, C)
        return self.out(y)


class Block(nn.Module):
    """Post-LN BERT layer: x = LN(x + Attn(x)); x = LN(x + FFN(x))."""

    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__()
        self.attn = SelfAttention(cfg)
        self.ln1 = nn.LayerNorm(cfg.hidden, eps=cfg.layer_norm_eps)
        self.up = nn.Linear(cfg.hidden, cfg.intermediate)
        self.down = nn.Linear(cfg.intermediate, cfg.hidden)
        self.ln2 = nn.LayerNorm(cfg.hidden, eps=cfg.layer_norm_eps)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: Tensor, mask: Tensor | None) -> Tensor:
        x = self.ln1(x + self.drop(self.attn(x, mask)))
        x = self.ln2(x + self.drop(self.down(F.gelu(self.up(x)))))
        return x


class Embeddings(nn.Module):
    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__()
        self.word = nn.Embedding(cfg.vocab_size, cfg.hidden, padding_idx=0)
        self.position = nn.Embedding(cfg.max_positions, cfg.hidden)
        self.token_type = nn.Embedding(cfg.type_vocab, cfg.hidden)
        self.ln = nn.LayerNorm(cfg.hidden, eps=cfg.layer_norm_eps)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, ids: Tensor) -> Tensor:
        T = ids.shape[1]
        pos = torch.arange(T, device=ids.device)
        # single-segment input: token type 0 everywhere
        x = self.word(ids) + self.position(pos)[None] + self.token_type.weight[0]  # (B, T, C)
        return self.drop(self.ln(x))


class AttentionPool(nn.Module):
    """Pools (B, T, C) token states to (B, C) with one learned query; returns the weights too."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.query = nn.Parameter(torch.zeros(hidden))  # zero: uniform weights = mean pooling at start
        self.key = nn.Linear(hidden, hidden)

    def forward(self, x: Tensor, pad: Tensor) -> tuple[Tensor, Tensor]:
        scores = self.key(x) @ self.query / math.sqrt(x.shape[-1])  # (B, T)
        scores = scores.float().masked_fill(pad, float("-inf"))
        weights = scores.softmax(dim=-1)  # (B, T)
        pooled = torch.einsum("bt,btc->bc", weights.to(x.dtype), x)  # (B, C)
        return pooled, weights


class Head(nn.Module):
    def __init__(self, hidden: int, n_classes: int, dropout: float) -> None:
        super().__init__()
        self.pool = AttentionPool(hidden)
        self.drop = nn.Dropout(dropout)
        self.proj = nn.Linear(hidden, n_classes)

    def forward(self, x: Tensor, pad: Tensor) -> tuple[Tensor, Tensor]:
        pooled, weights = self.pool(x, pad)
        return self.proj(self.drop(pooled)), weights


class NewsClassifier(nn.Module):
    """ids (B, T) with 0 as padding -> topic logits (B, 20), sentiment logits (B, 3), sentiment weights (B, T)."""

    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.embeddings = Embeddings(cfg)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.layers))
        self.topic_head = Head(cfg.hidden, cfg.n_topics, cfg.dropout)
        self.sentiment_head = Head(cfg.hidden, cfg.n_sentiments, cfg.dropout)
        self.aux_sentiment_head = Head(cfg.hidden, cfg.n_sentiments, cfg.dropout) if cfg.aux_sentiment_head else None

    def encode(self, ids: Tensor) -> tuple[Tensor, Tensor]:
        """ids (B, T) -> token states (B, T, C) and the padding mask (B, T)."""
        pad = ids.eq(0)  # (B, T) True where padding
        # SDPA bool mask: True = may attend. Skip it when nothing is padded (flash kernel on CUDA).
        mask = None if not bool(pad.any()) else ~pad[:, None, None, :]  # (B, 1, 1, T)
        x = self.embeddings(ids)
        for block in self.blocks:
            x = block(x, mask)
        return x, pad

    def forward(self, ids: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        x, pad = self.encode(ids)
        topic_logits, _ = self.topic_head(x, pad)
        sentiment_logits, sentiment_weights = self.sentiment_head(x, pad)
        return topic_logits, sentiment_logits, sentiment_weights


# The embedding tables: this module's name -> the Hugging Face BertModel's. Training never changes them, so
# the shipped checkpoint leaves them out and they load from the pretrained backbone (frozen_parameter_names).
HF_TABLES = {
    "embeddings.word.weight": "embeddings.word_embeddings.weight",
    "embeddings.position.weight": "embeddings.position_embeddings.weight",
    "embeddings.token_type.weight": "embeddings.token_type_embeddings.weight",
}


def hf_to_ours(hf: dict[str, Tensor], cfg: EncoderConfig) -> dict[str, Tensor]:
    """Renames a Hugging Face BertModel state dict (all-MiniLM-L6-v2) to this module's names."""
    out = {ours: hf[theirs] for ours, theirs in HF_TABLES.items()}
    out["embeddings.ln.weight"] = hf["embeddings.LayerNorm.weight"]
    out["embeddings.ln.bias"] = hf["embeddings.LayerNorm.bias"]
    for i in range(cfg.layers):
        p = f"encoder.layer.{i}."
        a = p + "attention.self."
        for kind in ("weight", "bias"):
            out[f"blocks.{i}.attn.qkv.{kind}"] = torch.cat(
                [hf[a + "query." + kind], hf[a + "key." + kind], hf[a + "value." + kind]]
            )
            out[f"blocks.{i}.attn.out.{kind}"] = hf[p + "attention.output.dense." + kind]
            out[f"blocks.{i}.ln1.{kind}"] = hf[p + "attention.output.LayerNorm." + kind]
            out[f"blocks.{i}.up.{kind}"] = hf[p + "intermediate.dense." + kind]
            out[f"blocks.{i}.down.{kind}"] = hf[p + "output.dense." + kind]
            out[f"blocks.{i}.ln2.{kind}"] = hf[p + "output.LayerNorm." + kind]
    return out


def frozen_parameter_names(model: NewsClassifier) -> set[str]:
    """What training never changes (so the shipped checkpoint leaves it out): the embedding tables."""
    return {n for n, _ in model.named_parameters() if n in HF_TABLES}
