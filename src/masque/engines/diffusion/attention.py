"""Prompt-to-prompt attention control through diffusers attention processors (Hertz et al. 2022).

`ControlledAttnProcessor` is installed with ``unet.set_attn_processor(...)``; every processor shares one
`AttentionController`, which knows the denoising step and the batch layout ``[uncond_src, uncond_tgt, cond_src,
cond_tgt]``. On the conditional half it

- refines/replaces the target's cross-attention with the source's for aligned tokens (word alignment between the
  two prompts) while ``step < word_fraction * num_steps`` (per-word schedule, default 80%),
- replaces the target's self-attention by the source's on maps with side <= ``self_replace_res * latent_side`` for
  the first ``self_replace`` fraction of steps,
- accumulates the target words' cross-attention at the local-blend resolution for `blend.LocalBlend`.

When ``controller.active`` is False (guidance passes, reference runs) the processors compute plain SDPA attention.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .config import EditConfig, step_count


@dataclass(frozen=True)
class TokenAlignment:
    """Target-token -> source-token map (-1: new token) and the replace cut-off step of each target token."""

    mapper: torch.Tensor  # (T,) long
    cutoff: torch.Tensor  # (T,) long: token j is replaced while step < cutoff[j] (0 for new tokens)
    target_tokens: tuple[int, ...]  # positions (in the target sequence) of the target words' tokens


def word_spans(tokenizer, prompt: str) -> list[tuple[str, int, int]]:
    """(word, first, end) token positions of each whitespace word of ``prompt`` (position 0 is the BOS token).

    CLIP's tokenizer pre-splits on whitespace, so tokenising word by word gives the same positions as the whole.
    """
    spans, pos = [], 1
    for word in prompt.split():
        n = len(tokenizer.encode(word, add_special_tokens=False))
        spans.append((word.lower(), pos, pos + n))
        pos += n
    return spans


def align_prompts(tokenizer, source: str, target: str, cfg: EditConfig, num_steps: int,
                  target_words: tuple[str, ...] = ()) -> TokenAlignment:
    """Word alignment (difflib) of the two prompts, expanded to tokens.

    Equal words map token by token (refine); a replaced word span with the same token count maps token by token too
    (word swap, P2P "replace"); inserted or re-tokenised words are new (-1). BOS maps to BOS and the EOS/padding tail
    of the target maps onto the source's tail.
    """
    length = tokenizer.model_max_length
    src, tgt = word_spans(tokenizer, source), word_spans(tokenizer, target)
    if max(src[-1][2] if src else 1, tgt[-1][2] if tgt else 1) + 1 > length:
        from ...errors import InputError

        raise InputError(f"`prompt` is too long for the text encoder ({length} tokens): {target!r}; shorten it.")
    mapper = torch.full((length,), -1, dtype=torch.long)
    cutoff = torch.zeros(length, dtype=torch.long)
    per_word = dict(cfg.word_replace)
    default_cut = step_count(cfg.cross_replace, num_steps)
    mapper[0], cutoff[0] = 0, default_cut
    sm = difflib.SequenceMatcher(a=[w for w, _, _ in src], b=[w for w, _, _ in tgt], autojunk=False)
    for op, a0, a1, b0, b1 in sm.get_opcodes():
        if op not in ("equal", "replace"):
            continue
        a_tokens = [p for _, s, e in src[a0:a1] for p in range(s, e)]
        b_tokens = [(p, w) for w, s, e in tgt[b0:b1] for p in range(s, e)]
        if len(a_tokens) != len(b_tokens):
            continue
        for pa, (pb, word) in zip(a_tokens, b_tokens, strict=True):
            mapper[pb] = pa
            cutoff[pb] = step_count(per_word[word], num_steps) if word in per_word else default_cut
    src_end, tgt_end = (src[-1][2] if src else 1), (tgt[-1][2] if tgt else 1)
    for k in range(length - tgt_end):  # EOS + padding tail
        if src_end + k < length:
            mapper[tgt_end + k], cutoff[tgt_end + k] = src_end + k, default_cut
    wanted = {w.lower() for w in target_words}
    tokens = tuple(p for w, s, e in tgt if w in wanted for p in range(s, e))
    return TokenAlignment(mapper, cutoff, tokens)


@dataclass
class AttentionController:
    """Shared state of all processors during one edit: the step, the alignment, and the stored blend maps."""

    cfg: EditConfig
    num_steps: int
    latent_side: int
    alignment: TokenAlignment | None = None
    blend_side: int | None = None  # map side used for local blend (chosen from the sides the UNet offers)
    active: bool = False
    step: int = 0
    blend_maps: torch.Tensor | None = None  # (1, 1, s, s) sum over steps and layers of the target words' maps

    def begin_step(self, step: int) -> None:
        self.step = step

    def wants(self, is_cross: bool, side: int) -> bool:
        """Whether this layer's call needs explicit probabilities (else it runs the fused SDPA kernel only)."""
        if not self.active:
            return False
        if is_cross:
            return True
        return self.step < step_count(self.cfg.self_replace, self.num_steps) and \
            side <= self.cfg.self_replace_res * self.latent_side

    def edit(self, src: torch.Tensor, tgt: torch.Tensor, is_cross: bool, side: int) -> torch.Tensor:
        """New attention probabilities (heads, Nq, Nk) of the conditional target from the conditional source's and
        its own (only called where `wants` said so)."""
        if is_cross:
            self._store(tgt, side)
            return self._cross(src, tgt)
        return src

    def _cross(self, src: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:
        al = self.alignment
        mapper = al.mapper.to(src.device)
        alpha = ((mapper >= 0) & (self.step < al.cutoff.to(src.device))).to(src.dtype)  # (T,)
        if not bool(alpha.any()):
            return tgt
        mapped = src[..., mapper.clamp(min=0)]
        return mapped * alpha + tgt * (1 - alpha)  # P2P refine: aligned tokens take the source's maps

    def _store(self, tgt: torch.Tensor, side: int) -> None:
        if self.blend_side is None or side != self.blend_side or not self.alignment.target_tokens:
            return
        idx = torch.tensor(self.alignment.target_tokens, device=tgt.device)
        m = tgt[..., idx].sum(-1).mean(0).reshape(1, 1, side, side).detach().float()  # heads averaged
        self.blend_maps = m if self.blend_maps is None else self.blend_maps + m


class ControlledAttnProcessor:
    """diffusers' `AttnProcessor2_0` (the fused SDPA kernel the UNet runs by default, and so during inversion) with
    the prompt-to-prompt edit on top.

    Every row of the batch goes through SDPA, so the source branch of an edit uses the same kernel as the inversion
    it retraces (a classic softmax-bmm processor here gave an fp16 source branch 0.024 away from it). Where the
    controller `wants` probabilities, they are computed explicitly (in fp32) for the two conditional rows only, and
    the conditional target's output is recomputed from the edited probabilities.
    """

    def __init__(self, controller: AttentionController):
        self.controller = controller

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None, **kwargs):
        # 1. projections, exactly as AttnProcessor2_0
        residual = hidden_states
        if attn.spatial_norm is not None:
            hidden_states = attn.spatial_norm(hidden_states, temb)
        input_ndim = hidden_states.ndim
        if input_ndim == 4:
            batch, channel, height, width = hidden_states.shape
            hidden_states = hidden_states.view(batch, channel, height * width).transpose(1, 2)
        is_cross = encoder_hidden_states is not None
        batch, n_query, _ = hidden_states.shape
        seq_len = (encoder_hidden_states if is_cross else hidden_states).shape[1]
        if attention_mask is not None:
            attention_mask = attn.prepare_attention_mask(attention_mask, seq_len, batch)
            attention_mask = attention_mask.view(batch, attn.heads, -1, attention_mask.shape[-1])
        if attn.group_norm is not None:
            hidden_states = attn.group_norm(hidden_states.transpose(1, 2)).transpose(1, 2)
        query = attn.to_q(hidden_states)
        context = hidden_states if not is_cross else (
            attn.norm_encoder_hidden_states(encoder_hidden_states) if attn.norm_cross else encoder_hidden_states)
        key, value = attn.to_k(context), attn.to_v(context)
        head_dim = key.shape[-1] // attn.heads
        query, key, value = (x.view(batch, -1, attn.heads, head_dim).transpose(1, 2) for x in (query, key, value))
        if attn.norm_q is not None:
            query = attn.norm_q(query)
        if attn.norm_k is not None:
            key = attn.norm_k(key)
        # 2. fused attention for every row
        out = F.scaled_dot_product_attention(query, key, value, attn_mask=attention_mask, dropout_p=0.0,
                                             is_causal=False)
        # 3. prompt-to-prompt: explicit probabilities of the conditional rows, edited target row
        side = math.isqrt(n_query)
        if self.controller.wants(is_cross, side):
            src, tgt = batch // 2, batch // 2 + 1  # layout [uncond_src, uncond_tgt, cond_src, cond_tgt]
            scores = query[src:tgt + 1].float() @ key[src:tgt + 1].float().transpose(-1, -2) * attn.scale
            if attention_mask is not None:
                scores = scores + attention_mask[src:tgt + 1].float()
            probs = scores.softmax(-1)
            new = self.controller.edit(probs[0], probs[1], is_cross, side)
            out = torch.cat([out[:tgt], (new @ value[tgt].float()).to(out.dtype)[None], out[tgt + 1:]])
        # 4. output projection, exactly as AttnProcessor2_0
        hidden_states = out.transpose(1, 2).reshape(batch, -1, attn.heads * head_dim).to(query.dtype)
        hidden_states = attn.to_out[1](attn.to_out[0](hidden_states))
        if input_ndim == 4:
            hidden_states = hidden_states.transpose(-1, -2).reshape(batch, channel, height, width)
        if attn.residual_connection:
            hidden_states = hidden_states + residual
        return hidden_states / attn.rescale_output_factor


def attention_sides(unet, latent_side: int) -> list[int]:
    """Sides of the attention maps the UNet computes at ``latent_side`` (one per down level with attention)."""
    n_levels = len(unet.config.block_out_channels)
    return sorted({latent_side // 2 ** i for i in range(n_levels)}, reverse=True)


def pick_blend_side(sides: list[int], latent_side: int, ratio: float) -> int:
    """The available side closest to ``ratio * latent_side`` (16 of 64 in SD); ties go to the coarser map."""
    want = ratio * latent_side
    return min(sides, key=lambda s: (abs(s - want), s))


def install(unet, controller: AttentionController) -> dict:
    """Install controlled processors on every attention layer; returns the previous processors to restore."""
    previous = dict(unet.attn_processors)
    unet.set_attn_processor({name: ControlledAttnProcessor(controller) for name in previous})
    return previous
