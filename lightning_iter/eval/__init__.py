"""Evaluation: reasoning primitives (5-shot multiple choice), held-out NLL, ICL/SFT sweeps, the lm-eval adapter.

Submodules are imported on use (`lightning_iter.eval.primitives`, `.nll`, `.icl_sweep`, `.sft_sweep`, `.report`,
`.lm_eval`); the last needs the optional `eval` extra (lm-eval).
"""
