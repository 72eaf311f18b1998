"""Optimisers: Adam with a learning-rate schedule, and an optional L-BFGS fine-tune (optax)."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax

from cygen.learn import losses
from cygen.learn.models import Model, Params

__all__ = ["lbfgs_finetune", "make_optimizer"]


def make_optimizer(ocfg: dict, steps_per_epoch: int, epochs: int) -> optax.GradientTransformation:
    """Adam with a constant, cosine or exponential learning-rate schedule (optax).

    The cosine schedule spans ``horizon_epochs`` (default ``epochs``), with an optional
    linear warm-up; after the horizon the learning rate stays at ``final_lr``.
    """
    if ocfg["name"] != "adam":
        raise ValueError(f"unknown optimizer {ocfg['name']!r} (adam; L-BFGS via config lbfgs)")
    lr = float(ocfg["lr"])
    horizon = int(ocfg.get("horizon_epochs") or epochs) * steps_per_epoch
    warmup = int(ocfg.get("warmup_epochs") or 0) * steps_per_epoch
    kind = ocfg["schedule"]
    if kind == "constant":
        schedule = optax.constant_schedule(lr)
    elif kind == "cosine":
        schedule = optax.warmup_cosine_decay_schedule(
            lr if warmup == 0 else lr * 1e-2, lr, warmup, max(horizon, warmup + 1),
            end_value=float(ocfg["final_lr"]))
    elif kind == "exponential":
        schedule = optax.exponential_decay(lr, steps_per_epoch, float(ocfg["decay_rate"]))
    else:
        raise ValueError(f"unknown schedule {kind!r} (constant, cosine, exponential)")
    return optax.adam(schedule, b1=ocfg["b1"], b2=ocfg["b2"], eps=ocfg["eps"])


def lbfgs_finetune(model: Model, geo, alphas, targets, params: Params, pts: losses.Point,
                   lcfg: dict, say: Callable[[dict], None], powers: tuple = (),
                   traces=None) -> Params:
    """Full-batch L-BFGS (optax.lbfgs, zoom line search) on a fixed training subset.

    The objective is the true one (no ``stop_gradient`` on eta_bar), so values and gradients
    are consistent for the line search.  ``powers``: (term, p) pairs, as in
    :func:`cygen.learn.step.loss_and_grad`; ``traces`` (a Counter) counts the step's traces.
    """
    n = min(int(lcfg["points"]), len(pts.weight))
    sub = jax.tree.map(lambda a: a[:n], pts)
    terms = tuple(alphas)

    def f(p):
        st = losses.batch_stats(model, geo, terms, p, sub)
        values = losses.objective(st, sub.weight, losses.constants(st, sub.weight), alphas,
                                  targets, powers=dict(powers))[1]
        return sum(alphas[t] * values[t] for t in alphas)

    opt = optax.lbfgs(memory_size=int(lcfg["memory"]))
    value_and_grad = optax.value_and_grad_from_state(f)

    @jax.jit
    def step(carry):
        if traces is not None:
            traces["lbfgs"] += 1
        p, state = carry
        value, grad = value_and_grad(p, state=state)
        updates, state = opt.update(grad, state, p, value=value, grad=grad, value_fn=f)
        return (optax.apply_updates(p, updates), state), value

    carry = (params, opt.init(params))
    for i in range(int(lcfg["steps"])):
        new, value = step(carry)
        if not all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree.leaves(new[0])):
            break
        carry = new
        say({"event": "lbfgs", "step": i + 1, "steps": int(lcfg["steps"]),
             "loss": float(value)})
    return carry[0]
