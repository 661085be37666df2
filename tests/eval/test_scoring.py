"""Shared-prompt scoring: a context scored once for all its continuations gives the unshared scores."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lightning_iter.eval.scoring import plan_shared, score_requests
from tests.eval.checkpoints import tiny_model

WINDOW = 48
MODEL = tiny_model(n_layers=2, plan=(0, 1, 0, 1), max_seq_len=WINDOW, seed=1)  # looped: one cache slot per pass


def direct(model, context, continuation):
    """Summed log-prob of `continuation` after `context` from one plain forward (the reference)."""
    ids = (list(context) + list(continuation))[-(WINDOW + 1) :]
    with torch.no_grad():
        logp = torch.log_softmax(model(torch.tensor([ids[:-1]])).float(), -1)[0]
    picked = logp.gather(-1, torch.tensor(ids[1:])[:, None])[:, 0]
    return float(picked[-len(continuation) :].sum())


def assert_same(shared, unshared, tol=1e-4):
    assert [s.truncated for s in shared] == [u.truncated for u in unshared]
    assert [s.greedy for s in shared] == [u.greedy for u in unshared]
    for s, u in zip(shared, unshared):
        assert s.logprob == pytest.approx(u.logprob, abs=tol)


def test_prompts_of_different_lengths_and_multi_token_choices_in_one_batch():
    g = torch.Generator().manual_seed(0)
    requests = []
    for length in (3, 17, 17, 30, 9):  # two contexts of one length share the continuation pass
        context = torch.randint(0, 256, (length,), generator=g).tolist()
        for n in (1, 2, 4, 3):
            requests.append((context, torch.randint(0, 256, (n,), generator=g).tolist()))
    requests.append(([7] * 47, [1, 2, 3]))  # cut to the window: scored unshared
    requests.append(([7] * 47, [1]))
    for batch_size in (1, 3, 64):
        shared = score_requests(MODEL, requests, batch_size=batch_size)
        unshared = score_requests(MODEL, requests, batch_size=batch_size, share_prompts=False)
        assert_same(shared, unshared)
        for (context, continuation), score in zip(requests, shared):
            assert score.logprob == pytest.approx(direct(MODEL, context, continuation), abs=1e-4)
    assert [s.truncated for s in shared][-2:] == [True, False]


def test_a_greedy_continuation_is_flagged_greedy_when_shared():
    context = [5, 9, 11, 2]
    greedy = []
    with torch.no_grad():
        for _ in range(3):
            greedy.append(int(MODEL(torch.tensor([context + greedy]))[0, -1].argmax()))
    other = [(greedy[0] + 1) % 256, *greedy[1:]]
    scores = score_requests(MODEL, [(context, greedy), (context, other), (context, greedy[:1])])
    assert [s.greedy for s in scores] == [True, False, True]


def test_the_prompt_runs_once_for_all_its_choices():
    """Tokens through the embedding: shared = prompts once + choices after their first token."""
    seen = []
    handle = MODEL.embed_tokens.register_forward_hook(lambda m, args, out: seen.append(args[0].numel()))
    requests = [([3] * 40, [1, 2]), ([3] * 40, [4, 5]), ([3] * 40, [6, 7]), ([3] * 40, [8, 9]), ([3] * 40, [1, 1])]
    try:
        score_requests(MODEL, requests, batch_size=8)
        shared, seen[:] = sum(seen), []
        score_requests(MODEL, requests, batch_size=8, share_prompts=False)
        unshared = sum(seen)
    finally:
        handle.remove()
    assert shared == 40 + 5 * 1 and unshared == 5 * 41


def test_only_uncut_contexts_of_two_or_more_requests_are_shared():
    requests = [([1, 2], [3]), ([1, 2], [4]), ([5], [6]), ([1, 2], [7]), ([8, 8], [9]), ([8, 8], [1])]
    groups, rest = plan_shared(requests, [False, False, False, False, True, False])
    assert groups == [[0, 1, 3]] and rest == [2, 4, 5]


requests_strategy = st.lists(
    st.tuples(
        st.lists(st.integers(0, 258), min_size=1, max_size=WINDOW + 4),
        st.lists(st.lists(st.integers(0, 258), min_size=1, max_size=5), min_size=1, max_size=4),
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=25, deadline=None)
@given(groups=requests_strategy, batch_size=st.integers(1, 5))
def test_shared_scores_equal_unshared_scores(groups, batch_size):
    requests = [(context, c) for context, continuations in groups for c in continuations]
    shared = score_requests(MODEL, requests, batch_size=batch_size)
    assert_same(shared, score_requests(MODEL, requests, batch_size=batch_size, share_prompts=False))
