"""`LightningIterConfig`: the config.json of a lightning_iter export with `--format remote_code`.

Copied into the export directory and loaded by `AutoConfig.from_pretrained(DIR, trust_remote_code=True)`.
A Llama-shaped config plus the layer plan: `num_unique_layers` layers are stored once and `plan` lists the
unique layer that runs at each effective depth (`num_hidden_layers == len(plan)`). Depends on transformers only.
"""

from transformers import PretrainedConfig


class LightningIterConfig(PretrainedConfig):
    """Llama hyper-parameters + `plan` (unique-layer index per effective depth) + `num_unique_layers`."""

    model_type = "lightning_iter"

    def __init__(
        self,
        vocab_size=32000,
        hidden_size=4096,
        intermediate_size=11008,
        num_unique_layers=32,
        plan=None,
        num_attention_heads=32,
        num_key_value_heads=None,
        max_position_embeddings=2048,
        rms_norm_eps=1e-6,
        rope_theta=10000.0,
        initializer_range=0.02,
        tie_word_embeddings=False,
        use_cache=False,
        bos_token_id=None,
        eos_token_id=None,
        pad_token_id=None,
        **kwargs,
    ):
        plan = list(range(num_unique_layers)) if plan is None else [int(i) for i in plan]
        if any(not 0 <= i < num_unique_layers for i in plan):
            raise ValueError(f"plan={plan} indexes a layer outside 0..{num_unique_layers - 1} (num_unique_layers)")
        if hidden_size % num_attention_heads:
            raise ValueError(f"num_attention_heads={num_attention_heads} does not divide hidden_size={hidden_size}")
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.intermediate_size = intermediate_size
        self.num_unique_layers = num_unique_layers
        self.plan = plan
        self.num_hidden_layers = len(plan)
        self.num_attention_heads = num_attention_heads
        self.num_key_value_heads = num_key_value_heads or num_attention_heads
        self.head_dim = hidden_size // num_attention_heads
        self.max_position_embeddings = max_position_embeddings
        self.rms_norm_eps = rms_norm_eps
        self.rope_theta = rope_theta
        self.initializer_range = initializer_range
        self.use_cache = use_cache
        kwargs.pop("num_hidden_layers", None)  # derived from the plan
        kwargs.pop("head_dim", None)
        super().__init__(
            tie_word_embeddings=tie_word_embeddings,
            bos_token_id=bos_token_id,
            eos_token_id=eos_token_id,
            pad_token_id=pad_token_id,
            **kwargs,
        )
