"""The policy seam: a tiny random causal LM through transformers, and the completions endpoint of an
OpenAI-compatible server (the scripted fake server of conftest)."""

import logging

import numpy as np
import pytest

from superalign.llm import (
    POLICY_BACKENDS,
    LLMError,
    OpenAICompatiblePolicy,
    Policy,
    TransformersPolicy,
    get_policy,
)

from .conftest import require_assets, tiny_causal_lm
from .test_llm import KEY


@pytest.fixture(scope="module")
def tiny_policy(tmp_path_factory):
    """A 2-layer random Llama with the MiniLM tokenizer, as a policy (batches of 2: batching is exercised)."""
    return TransformersPolicy(str(tiny_causal_lm(tmp_path_factory.mktemp("tiny-llama-policy"))), batch_size=2)


@pytest.fixture(scope="module")
def tiny_gpt2_policy(tmp_path_factory):
    """A 2-layer random GPT-2 (absolute positions: left padding must shift them) with the MiniLM tokenizer."""
    folder = tiny_causal_lm(tmp_path_factory.mktemp("tiny-gpt2-policy"), arch="gpt2")
    return TransformersPolicy(str(folder), batch_size=4)


PROMPTS = ["the film was", "a long and winding story about a small town that", "he said"]


def test_samples_have_the_asked_shape_and_follow_the_seed(tiny_policy):
    a = tiny_policy.sample(PROMPTS, n=3, seed=1, max_new_tokens=5)
    assert len(a) == 3 and all(len(row) == 3 and all(isinstance(t, str) for t in row) for row in a)
    assert tiny_policy.sample(PROMPTS, n=3, seed=1, max_new_tokens=5) == a
    assert tiny_policy.sample(PROMPTS, n=3, seed=2, max_new_tokens=5) != a
    assert len({t for row in a for t in row}) > 1  # samples, not copies
    nucleus = tiny_policy.sample(PROMPTS[:1], n=2, seed=1, temperature=0.7, top_p=0.5, max_new_tokens=3)
    assert len(nucleus) == 1 and len(nucleus[0]) == 2


def test_sampling_leaves_the_global_rng_alone(tiny_policy):
    import torch

    torch.manual_seed(123)
    state = torch.get_rng_state()
    tiny_policy.sample(PROMPTS, n=2, seed=5, max_new_tokens=3)
    assert torch.equal(torch.get_rng_state(), state)


def test_greedy_is_deterministic(tiny_policy):
    a = tiny_policy.sample(PROMPTS, n=2, seed=0, temperature=0.0, max_new_tokens=4)
    assert all(row[0] == row[1] for row in a)
    assert tiny_policy.sample(PROMPTS, n=2, seed=9, temperature=0.0, max_new_tokens=4) == a


@pytest.mark.parametrize("name", ["tiny_policy", "tiny_gpt2_policy"])
def test_logprob_is_the_sum_of_token_logprobs_and_ignores_padding(name, request):
    import torch

    tiny_policy = request.getfixturevalue(name)
    tiny_policy.sample(PROMPTS[:1], seed=0, max_new_tokens=1)  # loads the model

    prompt, cont = "the film was", " very good indeed"
    tok, model = tiny_policy._tok, tiny_policy._model
    a = tok(prompt, add_special_tokens=False)["input_ids"]
    b = tok(cont, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        lp = model(torch.tensor([a + b])).logits[0].log_softmax(-1)
    by_hand = sum(lp[t - 1, (a + b)[t]].item() for t in range(len(a), len(a) + len(b)))
    alone = tiny_policy.logprob([prompt], [cont])
    batched = tiny_policy.logprob([PROMPTS[1], prompt, "he said"], [" and then some more words", cont, ""])
    assert alone.shape == (1,) and alone.dtype == np.float64 and alone[0] < 0
    assert alone[0] == pytest.approx(by_hand, abs=1e-4) and batched[1] == pytest.approx(by_hand, abs=1e-4)
    assert batched[2] == 0.0  # an empty continuation


def test_local_policy_from_a_spec_and_its_errors(tiny_policy):
    policy = get_policy(f"local:{tiny_policy.source}")
    assert isinstance(policy, TransformersPolicy) and isinstance(policy, Policy)
    assert policy.key == f"local:{tiny_policy.source}" and set(POLICY_BACKENDS.names()) == {"local", "openai"}
    assert POLICY_BACKENDS.get("openai") is OpenAICompatiblePolicy
    with pytest.raises(LLMError, match="unknown policy backend 'gpt'"):
        get_policy("gpt:4")
    with pytest.raises(LLMError, match="empty"):
        tiny_policy.sample([""], seed=0)
    with pytest.raises(LLMError, match="n >= 1"):
        tiny_policy.sample(PROMPTS, n=0, seed=0)
    with pytest.raises(LLMError, match="2 prompts but 1 continuations"):
        tiny_policy.logprob(PROMPTS[:2], ["x"])


# --- an OpenAI-compatible /v1/completions endpoint -----------------------------------------------


def remote(srv) -> OpenAICompatiblePolicy:
    return OpenAICompatiblePolicy(
        model="test-model",
        base_url=f"http://127.0.0.1:{srv.server_port}/v1",
        api_key=KEY,
        timeout=2.0,
        max_retries=2,
        backoff=0.01,
        max_backoff=0.05,
    )


def completion(*texts, logprobs=None):
    return {"choices": [{"index": i, "text": t, "logprobs": logprobs} for i, t in enumerate(texts)]}


def test_remote_sampling_sends_n_seed_and_top_p(server):
    server.script = [
        (200, completion(" a", " b"), 0, {}),
        (200, b"<html>busy", 0, {}),
        (200, completion(" c", " d"), 0, {}),
    ]
    policy = remote(server)
    out = policy.sample(["one", "two"], n=2, seed=7, temperature=0.5, top_p=0.9, max_new_tokens=5)
    assert out == [[" a", " b"], [" c", " d"]]
    body = server.requests[0]["body"]
    assert server.requests[0]["path"] == "/v1/completions" and server.requests[0]["auth"] == f"Bearer {KEY}"
    assert body == {
        "model": "test-model",
        "prompt": "one",
        "n": 2,
        "seed": 7,
        "temperature": 0.5,
        "top_p": 0.9,
        "max_tokens": 5,
    }
    assert policy.attempts == 3 and server.requests[2]["body"]["prompt"] == "two"  # the garbage answer was retried
    assert KEY not in repr(policy) and KEY not in policy.key and isinstance(policy, Policy)
    server.script = [(200, completion(" a", " b", " c"), 0, {})]
    with pytest.raises(LLMError, match="asked for n=2 completions, got 3"):
        policy.sample(["one"], n=2, seed=0)


def test_a_server_that_ignores_n_gets_one_request_per_sample(server, caplog):
    caplog.set_level(logging.INFO)
    server.script = [(200, completion(f" s{i}"), 0, {}) for i in range(5)]
    policy = remote(server)
    assert policy.sample(["one"], n=3, seed=7) == [[" s0", " s1", " s2"]] and policy.n_supported is False
    assert [(r["body"]["n"], r["body"]["seed"]) for r in server.requests] == [(3, 7), (1, 8), (1, 9)]
    assert "ignores n" in caplog.text
    assert policy.sample(["two"], n=2, seed=0) == [[" s3", " s4"]]  # remembered: n=1 requests only
    assert [(r["body"]["n"], r["body"]["seed"]) for r in server.requests[3:]] == [(1, 0), (1, 1)]


def test_remote_logprob_from_an_echo_with_logprobs(server):
    scored = {
        "tokens": ["The", " cat", " sat", " down", "."],
        "text_offset": [0, 3, 7, 11, 16],
        "token_logprobs": [None, -1.5, -0.25, -0.5, -3.0],
        "top_logprobs": None,
    }  # "." was generated
    with_bos = {
        "tokens": ["<s>", "The", " cat", " sat", " down", "."],
        "text_offset": [0, 3, 6, 10, 14, 19],
        "token_logprobs": [None, -2.0, -1.5, -0.25, -0.5, -3.0],
        "top_logprobs": None,
    }  # as vLLM counts
    server.script = [
        (200, completion("The cat sat down.", logprobs=scored), 0, {}),
        (200, completion("The cat sat down.", logprobs=with_bos), 0, {}),
    ]
    out = remote(server).logprob(["The cat", "The"], [" sat down", " cat sat down"])
    assert out.tolist() == [-0.75, -2.25]
    body = server.requests[0]["body"]
    assert body["prompt"] == "The cat sat down" and body["echo"] is True and body["logprobs"] == 1


def test_remote_logprob_without_prompt_logprobs_fails_clearly(server):
    generated_only = {"tokens": ["."], "text_offset": [0], "token_logprobs": [-3.0], "top_logprobs": None}
    server.script = [(200, completion("The cat sat"), 0, {}), (200, completion(".", logprobs=generated_only), 0, {})]
    policy = remote(server)
    for _ in range(2):  # no logprobs at all; logprobs of the generated token only (echo ignored)
        with pytest.raises(LLMError, match="no prompt logprobs"):
            policy.logprob(["The cat"], [" sat"])
    assert policy.attempts == 2  # a missing capability is not retried


@pytest.mark.slow
def test_smollm2_policy_samples_and_scores():
    """The bundled SmolLM2-135M-Instruct (GGUF -> safetensors once) as a policy."""
    require_assets("smollm2")
    policy = get_policy("local")
    prompt = "The capital of France is"
    a = policy.sample([prompt, "Once upon a time"], n=2, seed=0, temperature=0.8, max_new_tokens=8)
    assert len(a) == 2 and all(len(row) == 2 and all(t for t in row) for row in a)
    lp = policy.logprob([prompt, prompt], [" Paris.", " a banana."])
    assert (lp < 0).all() and lp[0] > lp[1]
