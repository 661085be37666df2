"""`LightningIterForCausalLM`: a Llama decoder that runs its unique layers along a plan (loops, repeats).

Copied into an export directory by `lightning_iter export --format remote_code` and loaded with
`AutoModelForCausalLM.from_pretrained(DIR, trust_remote_code=True)`. Each unique layer is stored once;
`config.plan` says which one runs at each effective depth, so a looped model keeps its weight tying.
The layer is the Llama layer (pre-norm RMSNorm, grouped-query attention with rotate-half RoPE, SwiGLU);
the arithmetic follows lightning_iter's `Transformer` (fp32 norms, RoPE frequencies computed in float64)
so the logits equal lightning_iter's. No KV cache: generation recomputes the prefix at every step.
Depends on torch and transformers only.
"""

import torch
import torch.nn.functional as F
from torch import nn
from transformers import GenerationMixin, PreTrainedModel
from transformers.modeling_outputs import CausalLMOutputWithPast

from .configuration_lightning_iter import LightningIterConfig


class LightningIterRMSNorm(nn.Module):
    """RMSNorm with a learned gain; statistics in fp32, output in the input dtype."""

    def __init__(self, dim, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        h = x.to(torch.promote_types(x.dtype, torch.float32))
        h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * h.to(x.dtype)


def rope_tables(config, positions, dtype):
    """cos/sin [batch, 1, seq, head_dim] of integer `positions` [batch, seq] (rotate-half convention)."""
    dim = config.head_dim
    inv_freq = 1.0 / (config.rope_theta ** (torch.arange(0, dim, 2, dtype=torch.float64) / dim))
    freqs = positions.to(torch.float32)[..., None] * inv_freq.float().to(positions.device)
    emb = torch.cat((freqs, freqs), dim=-1)[:, None]
    return emb.cos().to(dtype), emb.sin().to(dtype)


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class LightningIterAttention(nn.Module):
    """Causal grouped-query self-attention through `scaled_dot_product_attention`."""

    def __init__(self, config):
        super().__init__()
        self.n_heads, self.n_kv_heads, self.head_dim = (
            config.num_attention_heads,
            config.num_key_value_heads,
            config.head_dim,
        )
        kv_dim = self.n_kv_heads * self.head_dim
        self.q_proj = nn.Linear(config.hidden_size, config.hidden_size, bias=False)
        self.k_proj = nn.Linear(config.hidden_size, kv_dim, bias=False)
        self.v_proj = nn.Linear(config.hidden_size, kv_dim, bias=False)
        self.o_proj = nn.Linear(config.hidden_size, config.hidden_size, bias=False)

    def forward(self, x, cos, sin, mask):
        batch, seq, _ = x.shape
        q = self.q_proj(x).view(batch, seq, self.n_heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(batch, seq, self.n_kv_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(batch, seq, self.n_kv_heads, self.head_dim).transpose(1, 2)
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        if self.n_kv_heads != self.n_heads:
            k = k.repeat_interleave(self.n_heads // self.n_kv_heads, dim=1)
            v = v.repeat_interleave(self.n_heads // self.n_kv_heads, dim=1)
        if mask is None:
            out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.o_proj(out.transpose(1, 2).reshape(batch, seq, -1))


class LightningIterMLP(nn.Module):
    """SwiGLU feed-forward: down(silu(gate(x)) * up(x))."""

    def __init__(self, config):
        super().__init__()
        self.gate_proj = nn.Linear(config.hidden_size, config.intermediate_size, bias=False)
        self.up_proj = nn.Linear(config.hidden_size, config.intermediate_size, bias=False)
        self.down_proj = nn.Linear(config.intermediate_size, config.hidden_size, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class LightningIterDecoderLayer(nn.Module):
    """h = x + attn(norm(x)); out = h + mlp(norm(h)) (Llama names, so the weights map one to one)."""

    def __init__(self, config):
        super().__init__()
        self.input_layernorm = LightningIterRMSNorm(config.hidden_size, config.rms_norm_eps)
        self.self_attn = LightningIterAttention(config)
        self.post_attention_layernorm = LightningIterRMSNorm(config.hidden_size, config.rms_norm_eps)
        self.mlp = LightningIterMLP(config)

    def forward(self, x, cos, sin, mask):
        h = x + self.self_attn(self.input_layernorm(x), cos, sin, mask)
        return h + self.mlp(self.post_attention_layernorm(h))


class LightningIterModel(nn.Module):
    """Embedding, the unique layers (run along `config.plan`) and the final norm."""

    def __init__(self, config):
        super().__init__()
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size)
        self.layers = nn.ModuleList(LightningIterDecoderLayer(config) for _ in range(config.num_unique_layers))
        self.norm = LightningIterRMSNorm(config.hidden_size, config.rms_norm_eps)


class LightningIterPreTrainedModel(PreTrainedModel):
    config_class = LightningIterConfig
    base_model_prefix = "model"
    _no_split_modules = ["LightningIterDecoderLayer"]
    _supports_sdpa = True

    def _init_weights(self, module):
        std = self.config.initializer_range
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=std)
        elif isinstance(module, LightningIterRMSNorm):
            nn.init.ones_(module.weight)


class LightningIterForCausalLM(LightningIterPreTrainedModel, GenerationMixin):
    """Causal LM over `LightningIterModel`; with `tie_word_embeddings` the output projection is the embedding."""

    def __init__(self, config):
        super().__init__(config)
        self.model = LightningIterModel(config)
        if not config.tie_word_embeddings:
            self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.post_init()

    def get_input_embeddings(self):
        return self.model.embed_tokens

    def set_input_embeddings(self, value):
        self.model.embed_tokens = value

    def _mask(self, attention_mask, seq, device):
        """None (plain causal) without padding; else a boolean [batch, 1, seq, seq] causal + key-padding mask."""
        if attention_mask is None or bool(attention_mask.all()):
            return None
        causal = torch.ones(seq, seq, dtype=torch.bool, device=device).tril()
        mask = causal[None, None] & attention_mask.bool()[:, None, None, :]
        return mask | torch.eye(seq, dtype=torch.bool, device=device)  # padded rows attend to themselves (no NaN)

    def forward(
        self,
        input_ids=None,
        attention_mask=None,
        position_ids=None,
        past_key_values=None,
        inputs_embeds=None,
        labels=None,
        use_cache=None,
        return_dict=None,
        **kwargs,
    ):
        hidden = self.model.embed_tokens(input_ids) if inputs_embeds is None else inputs_embeds
        batch, seq = hidden.shape[:2]
        if position_ids is None:
            if attention_mask is not None:
                position_ids = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
            else:
                position_ids = torch.arange(seq, device=hidden.device)[None].expand(batch, seq)
        cos, sin = rope_tables(self.config, position_ids[:, -seq:], hidden.dtype)
        mask = self._mask(attention_mask[:, -seq:] if attention_mask is not None else None, seq, hidden.device)
        for index in self.config.plan:
            hidden = self.model.layers[index](hidden, cos, sin, mask)
        hidden = self.model.norm(hidden)
        weight = self.model.embed_tokens.weight if self.config.tie_word_embeddings else self.lm_head.weight
        logits = F.linear(hidden, weight)
        loss = None
        if labels is not None:
            loss = F.cross_entropy(
                logits[:, :-1].flatten(0, 1).float(), labels[:, 1:].flatten().to(logits.device), ignore_index=-100
            )
        return CausalLMOutputWithPast(loss=loss, logits=logits)

    def prepare_inputs_for_generation(self, input_ids, attention_mask=None, **kwargs):
        """Without a KV cache every step reads the whole sequence."""
        return {"input_ids": input_ids, "attention_mask": attention_mask}
