"""Checks for section 3 (notebooks/3_llm_sae): measuring SAEs on a language model's MLP.

Every check runs on a tiny randomly initialised HookedTransformer and SAE built here (no files, no
network), with random biases everywhere so that a forgotten bias shows. Where an exercise calls an
earlier one (get_feature_probability calls get_mlp_activations), the reference stands in for the
earlier one while the check runs, so a bug in one exercise never shows up as a failure of another.
"""

from __future__ import annotations

import contextlib
import functools

import einops
import torch
from torch.nn import functional as F

from solutions import llm_sae as ref
from solutions.sae import AutoEncoder, AutoEncoderConfig
from tests.checks.core import CheckFailed, call_learner, compare, exercise_check, expect_tensor

HOOK = ref.MLP_HOOK
BATCH, SEQ, D_MLP, N_HIDDEN, N_INST = 3, 6, 12, 20, 2


@functools.cache
def _tiny_model_state(n_layers: int = 1):
    from transformer_lens import HookedTransformer, HookedTransformerConfig

    from utils.loading import quiet_transformer_lens

    quiet_transformer_lens()
    cfg = HookedTransformerConfig(n_layers=n_layers, d_model=8, n_heads=2, d_head=4, d_mlp=D_MLP, d_vocab=17, n_ctx=SEQ,
                                  act_fn="gelu", normalization_type="LN", seed=0, device="cpu")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1)
        model = HookedTransformer(cfg)
        with torch.no_grad():
            for name, p in model.named_parameters():
                if name.endswith(("b_in", "b_out", "b_U", "b_Q", "b_K", "b_V", "b_O")):
                    p.copy_(0.3 * torch.randn_like(p))  # TransformerLens starts biases at zero
    return cfg, model.state_dict()


def tiny_model(n_layers: int = 1):
    """A fresh copy each time: a learner's code that edits the model cannot affect the next check. (n_layers=2:
    a model where block 0 is not the last, so code that only works for block 0 shows.)"""
    from transformer_lens import HookedTransformer

    cfg, state = _tiny_model_state(n_layers)
    model = HookedTransformer(cfg)
    model.load_state_dict(state)
    return model.eval()


def tiny_sae(n_instances: int = N_INST) -> AutoEncoder:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(2)
        sae = AutoEncoder(AutoEncoderConfig(n_instances, D_MLP, N_HIDDEN, l1_coeff=0.1), device="cpu")
        with torch.no_grad():
            sae.b_enc.copy_(0.2 * torch.randn_like(sae.b_enc) - 0.1)
            sae.b_dec.copy_(0.3 * torch.randn_like(sae.b_dec))
            sae.normalize_and_return_W_dec()
    return sae.eval()


def tiny_tokens(batch: int = BATCH, seq: int = SEQ) -> torch.Tensor:
    generator = torch.Generator().manual_seed(3)
    return torch.randint(0, 17, (batch, seq), generator=generator)


@contextlib.contextmanager
def reference_helpers(fn, *names: str, reference=ref):
    """While the check runs, the learner's function sees the reference's version (from the module
    `reference`) of the helpers it calls by name, so that a mistake in an earlier exercise fails that
    exercise's check only; its notebook's globals are put back afterwards, untouched."""
    namespace = getattr(fn, "__globals__", {})
    saved = {name: namespace[name] for name in names if name in namespace}
    try:
        for name in names:
            if name in namespace:
                namespace[name] = getattr(reference, name)
        yield
    finally:
        namespace.update(saved)


def _untouched(ex: str, tokens: torch.Tensor, before: torch.Tensor, model) -> None:
    """The learner's function left its inputs as it found them: the tokens, and no hook on the model."""
    if not torch.equal(tokens, before):
        raise CheckFailed(ex, "your function changed the tokens it was given.", "work on a copy, not in place.")
    if any(hook_point.fwd_hooks for hook_point in model.hook_dict.values()):
        raise CheckFailed(ex, "a hook was left on the model afterwards.",
                          "use model.run_with_hooks (it removes its hooks), or model.reset_hooks() at the end.")
    pristine = tiny_model().state_dict()  # every check's model starts as a fresh tiny_model()
    changed = [name for name, value in model.state_dict().items()
               if name in pristine and not torch.allclose(value, pristine[name], rtol=1e-5, atol=1e-6)]
    if changed:
        raise CheckFailed(ex, f"your function changed the model's weights ({', '.join(changed[:3])}).",
                          "leave the model as it is: replace activations with a hook (model.run_with_hooks), never"
                          " by editing weights such as W_out in place.")


def _reference_acts(model, sae, tokens):
    """Everything the mistakes are computed from: MLP activations and the SAE's pieces."""
    with torch.no_grad():
        _, cache = model.run_with_cache(tokens)
        post = cache[HOOK]
        h = einops.repeat(post, "b s d -> (b s) i d", i=sae.cfg.n_instances)
        _, l2, _, acts, h_rec = sae(h)
    return cache, h, acts, h_rec, l2


def with_faint_latent(sae: AutoEncoder, model, tokens, instance: int = 1) -> int:
    """Lower one latent's b_enc (in place) until it fires on exactly one token, with activation 1e-4: it fires
    (> 0), but a cut-off such as > 1e-3 calls it silent. Returns the latent."""
    with torch.no_grad():
        h = ref.get_mlp_activations(tokens, model, sae.cfg.n_instances)
        acts = sae(h)[3][:, instance]
        latent = int(((acts > 0).float().mean(0) - 0.5).abs().argmin())  # fires on about half the tokens
        pre = (h[:, instance] - sae.b_dec[instance]) @ sae.W_enc[instance, :, latent] + sae.b_enc[instance, latent]
        sae.b_enc[instance, latent] -= pre.max() - 1e-4
    return latent


FAINT_HINT = ("a latent fires when its activation is > 0, not above a small cut-off such as 1e-3: a faint"
              " activation is still a firing.")
INSTANCES_HINT = "use autoencoder.cfg.n_instances, not a number written in (the bundled SAEs happen to have 2)."


# ------------------------------------------------------------------------------------ activations


def _activation_shape_hints(ex: str, got, n_instances: int, width: int, hook: str) -> None:
    """Name the mistake behind a wrong shape of activations: a position dropped, or another hook's width."""
    if not isinstance(got, torch.Tensor) or got.ndim != 3:
        return
    if got.shape[0] == BATCH * (SEQ - 1):
        raise CheckFailed(ex, f"the activations have {got.shape[0]} rows: one position per sequence is missing.",
                          "keep every position, the first (BOS) included: batch * seq rows.")
    if got.shape[0] == BATCH * SEQ and got.shape[1] != n_instances and got.shape[2] == width:
        raise CheckFailed(ex, f"asked for {n_instances} instances, the activations have {got.shape[1]}.",
                          "repeat them n_instances times, the argument, not a number written in.")
    if got.shape[0] == BATCH * SEQ and got.shape[1] == n_instances and got.shape[2] != width:
        other = {D_MLP: "the MLP's (d_mlp)", 8: "the residual stream's (d_model)"}.get(got.shape[2], "another hook's")
        raise CheckFailed(ex, f"the activations are {got.shape[2]} wide, like {other}, but {hook} has {width}.",
                          "read cache[hook_name], the hook you were asked for, not a hook name written in.")


@exercise_check("get_mlp_activations")
def check_get_mlp_activations(get_mlp_activations) -> None:
    ex = "get_mlp_activations"
    model, tokens = tiny_model(), tiny_tokens()
    before = tokens.clone()
    unembed_calls = []
    handle = model.unembed.register_forward_hook(lambda *args: unembed_calls.append(1))
    try:
        got = call_learner(ex, get_mlp_activations, tokens, model, N_INST)
    finally:
        handle.remove()
    _untouched(ex, tokens, before, model)
    _activation_shape_hints(ex, got, N_INST, D_MLP, "blocks.0.mlp.hook_post")
    expect_tensor(ex, got, "the activations", (BATCH * SEQ, N_INST, D_MLP), "batch*seq, n_instances, d_mlp")
    cache = model.run_with_cache(tokens)[1]
    expected = ref.get_mlp_activations(tokens, model, N_INST)
    compare(ex, got, expected, "the activations", mistakes={
        "that is blocks.0.mlp.hook_pre (before the GELU): use blocks.0.mlp.hook_post.":
            einops.repeat(cache["blocks.0.mlp.hook_pre"], "b s d -> (b s) i d", i=N_INST),
        "flatten (batch, seq) in that order: '(batch seq)', not '(seq batch)'.":
            einops.repeat(cache[HOOK], "b s d -> (s b) i d", i=N_INST),
    }, generic_hint="run_with_cache, take cache[hook_name] ([batch, seq, d_mlp]), flatten and repeat per instance.")
    if unembed_calls:
        raise CheckFailed(ex, "the whole model ran, unembedding included.",
                          "pass stop_at_layer to run_with_cache: nothing after the hook's block is needed (for a"
                          " block-0 hook, stop_at_layer=1).")
    # The hook is an argument: another hook point must work too (section 4 trains on other ones).
    resid = call_learner(ex, get_mlp_activations, tokens, model, 3, "blocks.0.hook_resid_mid")
    _activation_shape_hints(ex, resid, 3, 8, "blocks.0.hook_resid_mid")
    expect_tensor(ex, resid, "the activations at blocks.0.hook_resid_mid", (BATCH * SEQ, 3, 8),
                  "batch*seq, n_instances, d_model")
    compare(ex, resid, ref.get_mlp_activations(tokens, model, 3, "blocks.0.hook_resid_mid"),
            "the activations at blocks.0.hook_resid_mid",
            generic_hint="use the hook_name argument, not a hard-coded hook name.")
    # A hook in block 1 of a 2-layer model: stop_at_layer=1 (right for block 0, the bundled model's only block)
    # stops before the hook is reached.
    deeper, hook = tiny_model(n_layers=2), "blocks.1.mlp.hook_post"
    stop_hint = ("stop after the hook's own block: stop_at_layer=1 is right for a block-0 hook only; for blocks.L.*"
                 " it is L + 1.")
    got = call_learner(ex, get_mlp_activations, tokens, deeper, N_INST, hook, crash_hint=stop_hint)
    expect_tensor(ex, got, f"the activations at {hook} of a 2-layer model", (BATCH * SEQ, N_INST, D_MLP),
                  "batch*seq, n_instances, d_mlp")
    compare(ex, got, ref.get_mlp_activations(tokens, deeper, N_INST, hook),
            f"the activations at {hook} of a 2-layer model", generic_hint=stop_hint)


# ------------------------------------------------------------------------------ firing frequency


@exercise_check("get_feature_probability")
def check_get_feature_probability(get_feature_probability) -> None:
    ex = "get_feature_probability"
    model, sae, tokens = tiny_model(), tiny_sae(), tiny_tokens()
    before = tokens.clone()
    with reference_helpers(get_feature_probability, "get_mlp_activations"):
        got = call_learner(ex, get_feature_probability, tokens, model, sae)
    _untouched(ex, tokens, before, model)
    expect_tensor(ex, got, "the firing frequencies", (N_INST, N_HIDDEN), "n_instances, n_hidden_ae")
    _, h, acts, _, _ = _reference_acts(model, sae, tokens)
    W_enc, b_enc, b_dec = sae.W_enc.detach(), sae.b_enc.detach(), sae.b_dec.detach()
    compare(ex, got, (acts > 0).float().mean(0), "the firing frequencies", mistakes={
        "that is each latent's mean activation: count how often it fires, (acts > 0).float().mean(0).":
            acts.mean(0),
        "that is a count: divide by the number of tokens (use .mean(0), not .sum(0)).": (acts > 0).float().sum(0),
        "a latent fires when its activation is > 0; acts >= 0 is true for every latent.":
            (acts >= 0).float().mean(0),
        "you forgot to centre by b_dec before encoding: use the SAE's own forward.":
            (F.relu(torch.einsum("bid,idh->bih", h, W_enc) + b_enc) > 0).float().mean(0),
        "you forgot b_enc when encoding: use the SAE's own forward.":
            (F.relu(torch.einsum("bid,idh->bih", h - b_dec, W_enc)) > 0).float().mean(0),
        "divide by the number of tokens (batch * seq), not of sequences: a frequency is never above 1.":
            (acts > 0).float().sum(0) / BATCH,
        "count every position, the first (BOS) included.":
            (acts.reshape(BATCH, SEQ, *acts.shape[1:])[:, 1:] > 0).float().flatten(0, 1).mean(0),
        "each instance needs its own SAE's latents: you used instance 0's for every one.":
            (acts[:, :1] > 0).float().mean(0).expand(N_INST, -1),
    }, generic_hint="run the SAE on get_mlp_activations(...), then (acts > 0).float().mean(0).")
    three = tiny_sae(n_instances=3)  # the number of instances comes from the SAE, not from a number written in
    with reference_helpers(get_feature_probability, "get_mlp_activations"):
        got = call_learner(ex, get_feature_probability, tokens, model, three,
                           crash_hint="use autoencoder.cfg.n_instances, not a number written in.")
    if isinstance(got, torch.Tensor) and got.ndim == 2 and got.shape[0] != 3:
        raise CheckFailed(ex, f"for an SAE with 3 instances, the frequencies have {got.shape[0]} rows.",
                          "use autoencoder.cfg.n_instances, not a number written in.")
    expect_tensor(ex, got, "the firing frequencies of a 3-instance SAE", (3, N_HIDDEN), "n_instances, n_hidden_ae")
    compare(ex, got, ref.get_feature_probability(tokens, model, three), "the firing frequencies of a 3-instance SAE")
    faint = tiny_sae()
    with_faint_latent(faint, model, tokens)
    with reference_helpers(get_feature_probability, "get_mlp_activations"):
        got = call_learner(ex, get_feature_probability, tokens, model, faint)
    expect_tensor(ex, got, "the firing frequencies", (N_INST, N_HIDDEN), "n_instances, n_hidden_ae")
    faint_acts = _reference_acts(model, faint, tokens)[2]
    compare(ex, got, (faint_acts > 0).float().mean(0), "the firing frequencies (a latent firing faintly)",
            mistakes={FAINT_HINT: (faint_acts > 1e-3).float().mean(0)},
            generic_hint="a latent fires when its activation is > 0.")


# ------------------------------------------------------------------------------ comparing SAEs


class _RowBlocks(torch.Tensor):
    """A's directions, reporting any result derived from them that holds more than `chunk` of A's rows against
    every row of B (either way round): the [n_A, n_B] similarity matrix that chunking exists to avoid (4096 x
    4096 per pair of bundled SAEs; with broadcasting, [n_A, n_B, d] is 34 GB)."""

    rows, n_B = None, None

    @classmethod
    @contextlib.contextmanager
    def limit(cls, rows: int, n_B: int):
        cls.rows, cls.n_B = rows, n_B
        try:
            yield
        finally:
            cls.rows = cls.n_B = None

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        result = super().__torch_function__(func, types, args, kwargs or {})
        if cls.rows and isinstance(result, torch.Tensor) and result.ndim >= 2 and (
                (result.shape[0] > cls.rows and result.shape[1] == cls.n_B)
                or (result.shape[0] == cls.n_B and result.shape[1] > cls.rows)):
            raise CheckFailed("max_cosine_similarity", f"with chunk={cls.rows}, a result held {result.shape[0]} of A's"
                              f" rows against all of B's {cls.n_B} at once (shape {list(result.shape)}).",
                              "use the chunk argument: compare A[i : i + chunk] with all of B, one chunk at a time,"
                              " and keep each chunk's maxima. (The bundled SAEs' full 4,096 x 4,096 matrix, 67 MB,"
                              " fits; chunks keep memory bounded for larger dictionaries, and a broadcast [n_A, n_B,"
                              " d] product is 34 GB already here.)")
        return result


@exercise_check("max_cosine_similarity")
def check_max_cosine_similarity(max_cosine_similarity) -> None:
    ex = "max_cosine_similarity"
    generator = torch.Generator().manual_seed(4)
    A = torch.randn(7, 5, generator=generator) * (torch.rand(7, 1, generator=generator) * 3 + 0.2)
    B = torch.randn(9, 5, generator=generator) * (torch.rand(9, 1, generator=generator) * 3 + 0.2)
    B[4] = -2.5 * A[2]  # an anti-parallel pair: cosine -1, not 1
    A_before, B_before = A.clone(), B.clone()
    got = call_learner(ex, max_cosine_similarity, A, B)
    if not (torch.equal(A, A_before) and torch.equal(B, B_before)):
        raise CheckFailed(ex, "your function changed its inputs.", "normalise copies: A / A.norm(...), not A /= ...")
    if isinstance(got, tuple) and len(got) == 2 and isinstance(got[0], torch.Tensor):
        raise CheckFailed(ex, "returned a (values, indices) pair.",
                          "tensor.max(dim=...) returns both: keep .values.")
    chunk_hint = ("loop over range(0, len(A), chunk), so the last, partial chunk is included, and use the chunk"
                  " argument.")
    if isinstance(got, torch.Tensor) and got.ndim == 1 and len(got) < len(A):
        raise CheckFailed(ex, f"only {len(got)} of A's {len(A)} rows got a value.", chunk_hint)
    expect_tensor(ex, got, "the maximum cosine similarities", (7,), "n_hidden (one per row of A)")
    An, Bn = A / A.norm(dim=-1, keepdim=True), B / B.norm(dim=-1, keepdim=True)
    cos = An @ Bn.T  # [7, 9]
    compare(ex, got, cos.max(-1).values, "the maximum cosine similarities", mistakes={
        "normalise the rows first: that is the largest dot product, not the largest cosine.":
            (A @ B.T).max(-1).values,
        "normalise both sets of rows (A's and B's).": (An @ B.T).max(-1).values,
        "an opposite direction (cosine -1) is not a match: take the max of the cosine, not of its absolute value.":
            cos.abs().max(-1).values,
        "take the maximum over B's latents, not the mean.": cos.mean(-1),
        "normalise each row over the d axis (dim=-1), not each column.":
            ((A / A.norm(dim=0)) @ (B / B.norm(dim=0)).T).max(-1).values,
    }, generic_hint="normalise the rows of A and B, take A @ B.T, then the max over B's axis.")

    # In chunks of A's rows, the last one partial: every row of A must get its value.
    with _RowBlocks.limit(3, len(B)):
        got = call_learner(ex, max_cosine_similarity, A.as_subclass(_RowBlocks), B.clone(), chunk=3,
                           crash_hint="keep the stub's signature, chunk included, and use it: " + chunk_hint)
    got = got.as_subclass(torch.Tensor) if isinstance(got, torch.Tensor) else got
    if isinstance(got, torch.Tensor) and got.ndim == 1 and len(got) < len(A):
        raise CheckFailed(ex, f"with chunk=3, only {len(got)} of A's {len(A)} rows got a value.", chunk_hint)
    expect_tensor(ex, got, "the maximum cosine similarities with chunk=3", (7,), "n_hidden (one per row of A)")
    compare(ex, got, cos.max(-1).values, "the maximum cosine similarities with chunk=3",
            generic_hint=chunk_hint)
    # A against itself: every row's best match is itself (cosine 1), not its best *other* row.
    got = call_learner(ex, max_cosine_similarity, A, A.clone())
    expect_tensor(ex, got, "the maximum cosine similarities of A with itself", (7,), "n_hidden")
    compare(ex, got, torch.ones(7), "the maximum cosine similarities of A with itself", mistakes={
        "a row's best match may be the same row: don't exclude the diagonal when A and B have equal shapes.":
            (An @ An.T).fill_diagonal_(-float("inf")).max(-1).values,
    }, generic_hint="a direction's cosine with itself is 1: with B = A every value is 1.")


# ------------------------------------------------------------------------------ reconstruction


@exercise_check("get_reconstruction_loss")
def check_get_reconstruction_loss(get_reconstruction_loss) -> None:
    ex = "get_reconstruction_loss"
    model, sae, tokens = tiny_model(), tiny_sae(), tiny_tokens()
    before = tokens.clone()
    with reference_helpers(get_reconstruction_loss, "get_mlp_activations"):
        result = call_learner(ex, get_reconstruction_loss, tokens, model, sae)
    _untouched(ex, tokens, before, model)
    if not isinstance(result, tuple) or len(result) != 2:
        raise CheckFailed(ex, f"returned {type(result).__name__}; expected 2 values.",
                          "return (reconstruction_loss, cosine_similarity), each of shape [n_instances].")
    loss, cosine = result
    expect_tensor(ex, loss, "reconstruction_loss", (N_INST,), "n_instances")
    expect_tensor(ex, cosine, "cosine_similarity", (N_INST,), "n_instances")
    _, h, acts, h_rec, l2 = _reference_acts(model, sae, tokens)
    no_b_dec = torch.einsum("bih,ihd->bid", acts, sae.W_dec.detach())
    compare(ex, loss, l2.mean(0), "reconstruction_loss", mistakes={
        "you summed the squared error over d_mlp; average it (the SAE's l2_loss does).":
            (h_rec - h).pow(2).sum(-1).mean(0),
        "square the error: that is the mean error norm, not the mean squared error.":
            (h_rec - h).norm(dim=-1).mean(0),
        "you forgot to add b_dec back when decoding: use the SAE's own forward.":
            (no_b_dec - h).pow(2).mean(-1).mean(0),
        "that is the mean squared norm of the activations themselves, not of the error.": h.pow(2).mean(-1).mean(0),
        "that is a root mean square: the reconstruction loss is the mean squared error itself, no square root.":
            (h_rec - h).pow(2).mean(-1).mean(0).sqrt(),
        "also a root mean square per token: the reconstruction loss is the mean squared error, no square root.":
            (h_rec - h).pow(2).mean(-1).sqrt().mean(0),
        "average over every position, the first (BOS) included.":
            l2.reshape(BATCH, SEQ, -1)[:, 1:].flatten(0, 1).mean(0),
    }, generic_hint="the SAE's forward returns l2_loss per token and instance: average it over tokens.")
    compare(ex, cosine, F.cosine_similarity(h, h_rec, dim=-1).mean(0), "cosine_similarity", mistakes={
        "you forgot to add b_dec back when decoding: use the SAE's own forward.":
            F.cosine_similarity(h, no_b_dec, dim=-1).mean(0),
        "the cosine similarity is between each activation vector and its reconstruction (over d_mlp, dim=-1).":
            F.cosine_similarity(h, h_rec, dim=0).mean(-1),
    }, generic_hint="F.cosine_similarity(h, h_reconstructed, dim=-1), then the mean over tokens.")
    three = tiny_sae(n_instances=3)
    with reference_helpers(get_reconstruction_loss, "get_mlp_activations"):
        result = call_learner(ex, get_reconstruction_loss, tokens, model, three, crash_hint=INSTANCES_HINT)
    expected = ref.get_reconstruction_loss(tokens, model, three)
    for i, name in enumerate(("reconstruction_loss", "cosine_similarity")):
        got = result[i] if isinstance(result, tuple) and len(result) == 2 else result
        if isinstance(got, torch.Tensor) and got.ndim == 1 and len(got) != 3:
            raise CheckFailed(ex, f"for an SAE with 3 instances, {name} has {len(got)} values.", INSTANCES_HINT)
        expect_tensor(ex, got, f"{name} of a 3-instance SAE", (3,), "n_instances")
        compare(ex, got, expected[i], f"{name} of a 3-instance SAE", generic_hint=INSTANCES_HINT)


# ------------------------------------------------------------------------------ substitution


@exercise_check("get_substitution_loss")
def check_get_substitution_loss(get_substitution_loss) -> None:
    ex = "get_substitution_loss"
    model, sae, tokens = tiny_model(), tiny_sae(), tiny_tokens()
    before = tokens.clone()
    with reference_helpers(get_substitution_loss, "get_mlp_activations"):
        result = call_learner(ex, get_substitution_loss, tokens, model, sae)
    _untouched(ex, tokens, before, model)
    if not isinstance(result, tuple) or len(result) != 3:
        raise CheckFailed(ex, f"returned {type(result).__name__}; expected 3 values.",
                          "return (loss_clean, loss_reconstructed, loss_zero_ablation).")
    clean, reconstructed, zero = result
    expect_tensor(ex, clean, "loss_clean", (), "a scalar")
    expect_tensor(ex, reconstructed, "loss_reconstructed", (N_INST,), "n_instances")
    expect_tensor(ex, zero, "loss_zero_ablation", (), "a scalar")
    exp_clean, exp_rec, exp_zero = ref.get_substitution_loss(tokens, model, sae)
    compare(ex, clean, exp_clean, "loss_clean", mistakes={
        "the loss is the mean over predicted tokens, not the sum.":
            model(tokens, return_type="loss", loss_per_token=True).sum(),
    }, generic_hint="loss_clean = model(tokens, return_type='loss').")
    cache, _, _, h_rec, _ = _reference_acts(model, sae, tokens)
    h_rec = einops.rearrange(h_rec, "(b s) i d -> i b s d", b=BATCH).contiguous()

    def patched(replace, hook=HOOK):
        return model.run_with_hooks(tokens, return_type="loss", fwd_hooks=[(hook, replace)])

    def last_only(i):
        def replace(act, hook):
            act = act.clone()
            act[:, -1] = h_rec[i][:, -1]
            return act
        return replace

    seq_major = einops.rearrange(
        einops.rearrange(h_rec, "i b s d -> i (b s) d"), "i (s b) d -> i b s d", s=SEQ).contiguous()
    compare(ex, reconstructed, exp_rec, "loss_reconstructed", mistakes={
        "replace the activations at every position, not only the last one.":
            torch.stack([patched(last_only(i)) for i in range(N_INST)]),
        "patch blocks.0.mlp.hook_post (the activations the SAE was trained on), not hook_pre.":
            torch.stack([patched(lambda a, hook, i=i: h_rec[i], "blocks.0.mlp.hook_pre") for i in range(N_INST)]),
        "the reconstruction's (batch seq) axis must be unflattened in the same order: '(batch seq) -> batch seq'.":
            torch.stack([patched(lambda a, hook, i=i: seq_major[i]) for i in range(N_INST)]),
        "you forgot to add b_dec back when decoding: use the SAE's own forward (its h_reconstructed).":
            torch.stack([patched(lambda a, hook, i=i: (h_rec[i] - sae.b_dec.detach()[i]).contiguous())
                         for i in range(N_INST)]),
        "each instance needs its own reconstruction: you used instance 0's for every SAE.":
            torch.stack([patched(lambda a, hook: h_rec[0])] * N_INST),
        "the loss is the mean over predicted tokens, not the sum.":
            torch.stack([model.run_with_hooks(tokens, return_type="loss", loss_per_token=True,
                                              fwd_hooks=[(HOOK, lambda a, hook, i=i: h_rec[i])]).sum()
                         for i in range(N_INST)]),
    }, generic_hint="replace hook_post with each instance's reconstruction through run_with_hooks.")
    compare(ex, zero, exp_zero, "loss_zero_ablation", mistakes={
        "zero-ablate every position, not only the last one.":
            patched(lambda a, hook: torch.cat([a[:, :-1], torch.zeros_like(a[:, -1:])], dim=1)),
        "zero-ablate the MLP's output activations (hook_post), not its input (ln2.hook_normalized).":
            patched(lambda a, hook: torch.zeros_like(a), "blocks.0.ln2.hook_normalized"),
        "the loss is the mean over predicted tokens, not the sum.":
            model.run_with_hooks(tokens, return_type="loss", loss_per_token=True,
                                 fwd_hooks=[(HOOK, lambda a, hook: torch.zeros_like(a))]).sum(),
    }, generic_hint="replace hook_post with zeros through run_with_hooks.")
    del cache
    three = tiny_sae(n_instances=3)
    with reference_helpers(get_substitution_loss, "get_mlp_activations"):
        result = call_learner(ex, get_substitution_loss, tokens, model, three, crash_hint=INSTANCES_HINT)
    got = result[1] if isinstance(result, tuple) and len(result) == 3 else result
    if isinstance(got, torch.Tensor) and got.ndim == 1 and len(got) != 3:
        raise CheckFailed(ex, f"for an SAE with 3 instances, loss_reconstructed has {len(got)} values.",
                          INSTANCES_HINT)
    expect_tensor(ex, got, "loss_reconstructed of a 3-instance SAE", (3,), "n_instances")
    compare(ex, got, ref.get_substitution_loss(tokens, model, three)[1], "loss_reconstructed of a 3-instance SAE",
            generic_hint=INSTANCES_HINT)


# ------------------------------------------------------------------------------ summary metrics


@exercise_check("loss_recovered")
def check_loss_recovered(loss_recovered) -> None:
    ex = "loss_recovered"
    # Four SAEs against one clean and one zero-ablated loss: good, half-way, worse than no MLP at all,
    # and better than the MLP itself (it happens on a few tokens; the fraction must say so, not hide it).
    clean, zero = torch.tensor(2.0), torch.tensor(5.0)
    reconstructed = torch.tensor([2.3, 3.5, 5.6, 1.85])
    inputs = (clean, reconstructed, zero)
    copies = tuple(x.clone() for x in inputs)
    got = call_learner(ex, loss_recovered, clean, reconstructed, zero)
    if not all(torch.equal(x, c) for x, c in zip(inputs, copies, strict=True)):
        raise CheckFailed(ex, "your function changed the losses it was given.",
                          "compute a new tensor: zero - clean, not zero.sub_(clean) or -=.")
    if isinstance(got, torch.Tensor) and got.ndim == 0 and reconstructed.numel() > 1:
        raise CheckFailed(ex, "returned one number for four SAEs.",
                          "keep one fraction per SAE: the formula broadcasts, don't average or .sum() it.")
    expect_tensor(ex, got, "the fraction recovered", (4,), "n_instances")
    expected = ref.loss_recovered(clean, reconstructed, zero)
    lost = (reconstructed - clean) / (zero - clean)
    compare(ex, got, expected, "the fraction recovered", mistakes={
        "that is the fraction *lost* (reconstructed - clean) / (zero - clean); the fraction recovered is 1 minus"
        " it.": lost,
        "the sign is flipped: (zero - reconstructed) / (zero - clean), so a good SAE scores near 1.": -expected,
        "divide by the whole gap the MLP closes, zero - clean, not by zero alone.": (zero - reconstructed) / zero,
        "the fraction is upside down: the gap the reconstruction closes, zero - reconstructed, goes on top.":
            (zero - clean) / (zero - reconstructed),
        "divide by zero - clean, the loss the MLP saves, not by reconstructed - clean.":
            (zero - reconstructed) / (reconstructed - clean),
        "a ratio of losses is not the fraction recovered: (zero - reconstructed) / (zero - clean).":
            clean / reconstructed,
        "don't clamp to [0, 1]: a negative fraction (worse than removing the MLP) or one above 1 is a finding.":
            expected.clamp(0, 1),
        "don't clamp at 0: a negative fraction means the SAE is worse than removing the MLP, which you should see.":
            expected.clamp_min(0),
        "don't clamp at 1: a fraction above 1 means the reconstruction beat the MLP itself, which you should see.":
            expected.clamp_max(1),
    }, generic_hint="(loss_zero_ablation - loss_reconstructed) / (loss_zero_ablation - loss_clean).")
    # Any broadcastable shapes, e.g. per-token losses [batch, seq]. On single tokens, removing the MLP can
    # *lower* the loss (zero < clean): the denominator is then negative, and must stay so.
    per_token = torch.rand(3, 5) + 1, torch.rand(3, 5) + 2.5, torch.rand(3, 5) + 4
    per_token[2][0, :2] = torch.tensor([0.5, 0.8])  # zero-ablation below the clean loss on two tokens
    got = call_learner(ex, loss_recovered, *per_token)
    expect_tensor(ex, got, "the fraction recovered for [3, 5] losses", (3, 5), "3, 5")
    c, r, z = per_token
    compare(ex, got, ref.loss_recovered(*per_token), "the fraction recovered for [3, 5] losses", mistakes={
        "keep the denominator's sign: where zero-ablation lowers the loss (zero < clean), zero - clean is negative"
        " and the fraction must say so; no .abs() or clamp on it.": (z - r) / (z - c).abs(),
        "don't clamp the denominator: where zero-ablation lowers the loss (zero < clean), zero - clean is"
        " negative, and clamping it makes the fraction huge.": (z - r) / (z - c).clamp(min=1e-8),
    }, generic_hint="work elementwise, so any shape of losses gives the same shape of fractions.")


@exercise_check("get_summary_metrics")
def check_get_summary_metrics(get_summary_metrics) -> None:
    ex = "get_summary_metrics"
    model, sae, tokens = tiny_model(), tiny_sae(), tiny_tokens()
    before = tokens.clone()
    with reference_helpers(get_summary_metrics, "get_mlp_activations"):
        got = call_learner(ex, get_summary_metrics, tokens, model, sae)
    _untouched(ex, tokens, before, model)
    keys = ("l0", "explained_variance", "dead_fraction", "dense_fraction")
    if not isinstance(got, dict) or set(got) != set(keys):
        found = sorted(got) if isinstance(got, dict) else type(got).__name__
        raise CheckFailed(ex, f"returned {found}; expected a dict with keys {list(keys)}.",
                          "return {'l0': ..., 'explained_variance': ..., 'dead_fraction': ..., 'dense_fraction': ...}.")
    for key in keys:
        expect_tensor(ex, got[key], f"[{key!r}]", (N_INST,), "n_instances")
    expected = ref.get_summary_metrics(tokens, model, sae)
    _, h, acts, h_rec, _ = _reference_acts(model, sae, tokens)
    firing, frequency = (acts > 0).float(), (acts > 0).float().mean(0)
    residual = (h - h_rec).pow(2).sum(-1).sum(0)
    compare(ex, got["l0"], expected["l0"], "l0", mistakes={
        "L0 counts the latents that fire (acts > 0), it does not add up their activations (that is the L1).":
            acts.sum(-1).mean(0),
        "L0 is a count per token: sum the firing latents over n_hidden_ae, don't average them.":
            firing.mean(-1).mean(0),
    }, generic_hint="l0 = (acts > 0) summed over latents, averaged over tokens.")
    compare(ex, got["explained_variance"], expected["explained_variance"], "explained_variance", mistakes={
        "variance is measured around the activations' mean: subtract h.mean(0) before squaring.":
            1 - residual / h.pow(2).sum(-1).sum(0),
        "that is the fraction of variance *unexplained*: return 1 minus it.":
            residual / (h - h.mean(0)).pow(2).sum(-1).sum(0),
    }, generic_hint="1 - sum of (h - h_reconstructed)^2 / sum of (h - h.mean(0))^2, over tokens and d_mlp.")
    compare(ex, got["dead_fraction"], expected["dead_fraction"], "dead_fraction", mistakes={
        "that is the fraction of latents that fire, not of those that never do.": (frequency > 0).float().mean(-1),
        "one fraction per instance: you pooled every instance's latents together.":
            (frequency == 0).float().mean().expand(N_INST),
        "that is a count of dead latents: divide by the number of latents (take the mean over them).":
            (frequency == 0).float().sum(-1),
    }, generic_hint="a latent is dead if (acts > 0) is never true for it over all the tokens.")
    compare(ex, got["dense_fraction"], expected["dense_fraction"], "dense_fraction", mistakes={
        "dense latents fire on more than dense_threshold of the tokens: compare the frequency,"
        " not the mean activation.":
            (acts.mean(0) > 0.1).float().mean(-1),
        "one fraction per instance: you pooled every instance's latents together.":
            (frequency > 0.1).float().mean().expand(N_INST),
        "that is a count of dense latents: divide by the number of latents (take the mean over them).":
            (frequency > 0.1).float().sum(-1),
    }, generic_hint="the fraction of latents whose firing frequency exceeds dense_threshold.")

    # A threshold other than the default must be used, not 0.1 written in again.
    threshold = 0.4
    with reference_helpers(get_summary_metrics, "get_mlp_activations"):
        got = call_learner(ex, get_summary_metrics, tokens, model, sae, dense_threshold=threshold)
    expect_tensor(ex, got["dense_fraction"] if isinstance(got, dict) and "dense_fraction" in got else got,
                  "['dense_fraction'] with dense_threshold=0.4", (N_INST,), "n_instances")
    compare(ex, got["dense_fraction"], (frequency > threshold).float().mean(-1),
            "['dense_fraction'] with dense_threshold=0.4", mistakes={
                "dense_threshold=0.4 was ignored: use the argument, not the default 0.1 written in.":
                    (frequency > 0.1).float().mean(-1),
                "one fraction per instance: you pooled every instance's latents together.":
                    (frequency > threshold).float().mean().expand(N_INST),
            }, generic_hint="the fraction of latents whose firing frequency exceeds dense_threshold.")

    # A threshold equal to some latents' frequency: "more than dense_threshold" leaves them out.
    exact = float(frequency[frequency > 0.2].min())
    with reference_helpers(get_summary_metrics, "get_mlp_activations"):
        got = call_learner(ex, get_summary_metrics, tokens, model, sae, dense_threshold=exact)
    name = f"['dense_fraction'] with dense_threshold={exact:.4f} (some latents' exact frequency)"
    got = got["dense_fraction"] if isinstance(got, dict) and "dense_fraction" in got else got
    expect_tensor(ex, got, name, (N_INST,), "n_instances")
    compare(ex, got, (frequency > exact).float().mean(-1), name, mistakes={
        "dense latents fire on *more than* dense_threshold of the tokens: frequency > dense_threshold, not >=.":
            (frequency >= exact).float().mean(-1),
    }, generic_hint="the fraction of latents whose firing frequency exceeds dense_threshold.")

    # A latent that fires on one token only, faintly (1e-4): it counts in l0 and is not dead.
    faint = tiny_sae()
    with_faint_latent(faint, model, tokens)
    with reference_helpers(get_summary_metrics, "get_mlp_activations"):
        got = call_learner(ex, get_summary_metrics, tokens, model, faint)
    faint_acts = _reference_acts(model, faint, tokens)[2]
    for key, of in (("l0", lambda fires: fires.float().sum(-1).mean(0)),
                    ("dead_fraction", lambda fires: (fires.float().mean(0) == 0).float().mean(-1))):
        value = got[key] if isinstance(got, dict) and key in got else got
        expect_tensor(ex, value, f"[{key!r}]", (N_INST,), "n_instances")
        compare(ex, value, of(faint_acts > 0), f"{key} (a latent firing faintly)",
                mistakes={FAINT_HINT: of(faint_acts > 1e-3)}, generic_hint="a latent fires when its activation is > 0.")

    three = tiny_sae(n_instances=3)
    with reference_helpers(get_summary_metrics, "get_mlp_activations"):
        got = call_learner(ex, get_summary_metrics, tokens, model, three, crash_hint=INSTANCES_HINT)
    expected = ref.get_summary_metrics(tokens, model, three)
    for key in keys:
        value = got[key] if isinstance(got, dict) and key in got else got
        if isinstance(value, torch.Tensor) and value.ndim == 1 and len(value) != 3:
            raise CheckFailed(ex, f"for an SAE with 3 instances, [{key!r}] has {len(value)} values.", INSTANCES_HINT)
        expect_tensor(ex, value, f"[{key!r}] of a 3-instance SAE", (3,), "n_instances")
        compare(ex, value, expected[key], f"[{key!r}] of a 3-instance SAE", generic_hint=INSTANCES_HINT)


CHECKS = {
    "get_mlp_activations": (check_get_mlp_activations, "get_mlp_activations"),
    "get_feature_probability": (check_get_feature_probability, "get_feature_probability"),
    "max_cosine_similarity": (check_max_cosine_similarity, "max_cosine_similarity"),
    "get_reconstruction_loss": (check_get_reconstruction_loss, "get_reconstruction_loss"),
    "get_substitution_loss": (check_get_substitution_loss, "get_substitution_loss"),
    "loss_recovered": (check_loss_recovered, "loss_recovered"),
    "get_summary_metrics": (check_get_summary_metrics, "get_summary_metrics"),
}
