"""Small constructed models for the analysis tests: known answers, CPU-fast."""

import torch

from lightning_iter.model import ModelConfig, Transformer
from tests.helpers import SMALL


def small_model(n_layers: int = 4, seed: int = 0, plan=None) -> Transformer:
    torch.manual_seed(seed)
    config = ModelConfig.from_name("tiny", **{**SMALL, "n_layers": n_layers, "vocab_size": 259})
    model = Transformer(config, plan).eval()
    with torch.no_grad():  # larger weights than the init, so every layer visibly moves the residual
        for layer in model.layers:
            for p in layer.parameters():
                if p.dim() == 2:
                    p.normal_(0.0, 0.15)
    return model


def silence(model: Transformer, index: int) -> None:
    """Zero the output projections of unique layer `index`: it then adds nothing to the residual stream."""
    with torch.no_grad():
        model.layers[index].self_attn.o_proj.weight.zero_()
        model.layers[index].mlp.down_proj.weight.zero_()


def copy_layer(model: Transformer, source: int, target: int) -> None:
    model.layers[target].load_state_dict(model.layers[source].state_dict())
