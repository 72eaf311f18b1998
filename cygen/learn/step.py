"""The compiled training step: loss and gradient of a batch, K optimiser steps per call.

The step is compiled once per model, losses, optimiser and epoch length (cached), as a
``lax.scan`` over ``steps_per_call`` steps, and never retraced: :data:`TRACES` counts the
traces of every compiled function of the trainer (tests check it).
"""

from __future__ import annotations

import collections
import json
import math

import jax
import jax.numpy as jnp
import optax

from cygen.geometry import scale
from cygen.learn import losses
from cygen.learn.config import loss_powers
from cygen.learn.models import Model, Params
from cygen.learn.optim import make_optimizer

__all__ = ["TRACES", "cached_chunk_fn", "calls", "exact_sigma", "loss_and_grad",
           "make_chunk_fn", "model_key"]

TRACES: collections.Counter = collections.Counter()  # traces of each compiled function


def loss_and_grad(model: Model, geo, alphas: dict[str, float], targets, micro: int | None,
                  params: Params, batch: losses.Point, exact_sigma: bool = False,
                  powers: tuple = ()):
    """(values, grads) of sum alpha_t term_t on a batch; exact micro-batching when ``micro``
    (``exact_sigma``, ``powers`` ((term, p) pairs): see :func:`cygen.learn.losses.objective`)."""
    terms = tuple(alphas)
    powers = dict(powers)
    w = batch.weight
    if micro is None or micro >= w.shape[0]:
        def f(p):
            st = losses.batch_stats(model, geo, terms, p, batch)
            consts = jax.lax.stop_gradient(losses.constants(st, w))
            return losses.objective(st, w, consts, alphas, targets, exact_sigma, powers)

        (_, values), grads = jax.value_and_grad(f, has_aux=True)(params)
        return values, grads
    n_micro = w.shape[0] // micro
    mbs = jax.tree.map(lambda a: a.reshape(n_micro, micro, *a.shape[1:]), batch)
    const_terms = tuple(t for t in terms if t in losses.CONSTANT_TERMS)
    first = jax.lax.map(lambda mb: losses.batch_stats(model, geo, const_terms, params, mb), mbs)
    consts = losses.constants(jax.tree.map(lambda a: a.reshape(-1, *a.shape[2:]), first), w)

    def body(acc, mb):
        def f(p):
            st = losses.batch_stats(model, geo, terms, p, mb)
            return losses.objective(st, mb.weight, consts, alphas, targets, exact_sigma,
                                    powers)[0], st

        (_, st), g = jax.value_and_grad(f, has_aux=True)(params)
        return jax.tree.map(jnp.add, acc, g), st

    grads, st = jax.lax.scan(body, jax.tree.map(jnp.zeros_like, params), mbs)
    st = jax.tree.map(lambda a: a.reshape(-1, *a.shape[2:]), st)
    return losses.objective(st, w, consts, alphas, targets, powers=powers)[1], grads


def make_chunk_fn(model: Model, geo, alphas: dict[str, float], targets, micro: int | None,
                  optimizer: optax.GradientTransformation, batch_sharding=None,
                  exact_sigma: bool = False, powers: tuple = ()):
    """jit((params, opt_state, data, idx (K, B), valid (K,)) -> (params, opt_state, bad, sums)).

    K optimiser steps in one ``lax.scan``; steps with ``valid`` False change nothing (they pad
    the last call of an epoch).  A step whose loss or gradient is not finite is skipped and
    sets ``bad``.  ``sums`` are the loss terms summed over the valid steps.
    """

    def chunk(params, opt_state, data, idx, valid):
        TRACES["train_chunk"] += 1

        def step(carry, xs):
            params, opt_state, bad = carry
            i, ok_step = xs
            batch = jax.tree.map(lambda a: a[i], data)
            batch = scale.constrain(batch, batch_sharding)  # data parallel over a mesh
            values, grads = loss_and_grad(model, geo, alphas, targets, micro, params, batch,
                                          exact_sigma, powers)
            loss = sum(alphas[t] * values[t] for t in alphas)
            updates, new_opt = optimizer.update(grads, opt_state, params)
            new_params = optax.apply_updates(params, updates)
            finite = jnp.isfinite(loss) & jnp.all(jnp.stack(
                [jnp.all(jnp.isfinite(g)) for g in jax.tree.leaves(grads)]))
            ok = ok_step & finite
            params = jax.tree.map(lambda n, o: jnp.where(ok, n, o), new_params, params)
            opt_state = jax.tree.map(lambda n, o: jnp.where(ok, n, o), new_opt, opt_state)
            values = {**values, "loss": loss}
            values = {k: jnp.where(ok_step, v, 0.0) for k, v in values.items()}
            return (params, opt_state, bad | (ok_step & ~finite)), values

        (params, opt_state, bad), values = jax.lax.scan(
            step, (params, opt_state, jnp.asarray(False)), (idx, valid))
        return params, opt_state, bad, {k: jnp.sum(v) for k, v in values.items()}

    return jax.jit(chunk)


def exact_sigma(cfg: dict, net: Model) -> bool:
    """Config ``sigma_gradient``: "exact", "fixed" (eta_bar held, cymetric's) or "auto" (exact
    for models that can change their scale, ``ldl``/``add``/``mult``; fixed for Kähler ones)."""
    mode = cfg.get("sigma_gradient", "auto")  # resolve_config has checked it
    return mode == "exact" or (mode == "auto" and not net.kahler)


def model_key(geo, cfg: dict) -> tuple:
    """What identifies a built model: the geometry object and the model's configuration."""
    return (id(geo), json.dumps(cfg["model"], sort_keys=True))


_CHUNK_FNS: dict = {}


def cached_chunk_fn(net, geo, cfg, alphas, targets, micro, steps, mesh=None):
    """(optimizer, :func:`make_chunk_fn`) cached per model, losses, optimiser and epoch length."""
    exact, powers = exact_sigma(cfg, net), loss_powers(cfg)
    key = (model_key(geo, cfg), tuple(sorted(alphas.items())), micro, steps, mesh,
           json.dumps(cfg["optimizer"], sort_keys=True), str(cfg["dtype"]), exact, powers)
    if key not in _CHUNK_FNS:
        if len(_CHUNK_FNS) > 8:
            _CHUNK_FNS.clear()
        optimizer = make_optimizer(cfg["optimizer"], steps, int(cfg["epochs"]))
        _CHUNK_FNS[key] = (optimizer, make_chunk_fn(net, geo, alphas, targets, micro, optimizer,
                                                    scale.batch_sharding(mesh), exact, powers))
    return _CHUNK_FNS[key]


def calls(steps: int, batch: int, steps_per_call: int) -> tuple[int, int]:
    """(calls per epoch, steps per call) covering ``steps`` with little padding."""
    target = steps_per_call or max(1, 8192 // batch)
    target = max(1, min(target, steps))
    n_calls = math.ceil(steps / target)
    return n_calls, math.ceil(steps / n_calls)
