"""Noise schedules and few-step samplers for a denoiser D(x, sigma, cond) ~ E[x0 | x].

Every sampler has one signature, sample_x(model, x, sigmas, cond, callback), where x is
the start (sigmas[0] times unit noise) and sigmas a decreasing schedule ending at 0; each
returns the final estimate. Works on real or complex tensors.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

Denoiser = Callable[[torch.Tensor, torch.Tensor, object], torch.Tensor]
Callback = Callable[[int, torch.Tensor, torch.Tensor], None] | None


def karras_sigmas(steps: int, sigma_min: float, sigma_max: float, rho: float = 7.0
                  ) -> torch.Tensor:
    """The EDM schedule (Karras et al. 2022, eq. 5): `steps` levels from sigma_max down to
    sigma_min, then 0; shape (steps + 1,)."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if not 0 < sigma_min < sigma_max:
        raise ValueError(f"need 0 < sigma_min < sigma_max, got {sigma_min}, {sigma_max}")
    if rho <= 0:
        raise ValueError(f"rho must be positive, got {rho}")
    if steps == 1:
        levels = torch.tensor([sigma_max], dtype=torch.float64)
    else:
        ramp = torch.linspace(0, 1, steps, dtype=torch.float64)
        lo, hi = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
        levels = (hi + ramp * (lo - hi)) ** rho
    return torch.cat([levels, torch.zeros(1, dtype=torch.float64)]).float()


def check_sigmas(sigmas: torch.Tensor) -> None:
    """A schedule must be 1-D, at least two levels, strictly decreasing, ending at 0."""
    if sigmas.dim() != 1 or sigmas.numel() < 2:
        raise ValueError("sigmas must be 1-D with at least two levels")
    if float(sigmas[-1]) != 0.0 or bool((sigmas[:-1] <= 0).any()):
        raise ValueError("sigmas must be positive and end at 0")
    if bool((sigmas[1:] >= sigmas[:-1]).any()):
        raise ValueError("sigmas must be strictly decreasing")


def sample_euler(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, cond: object,
                 callback: Callback = None) -> torch.Tensor:
    """Euler steps of the probability-flow ODE (Karras et al. 2022, Alg. 1 without the
    correction; the same update as deterministic DDIM, eta = 0)."""
    check_sigmas(sigmas)
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i], cond)
        d = (x - denoised) / sigmas[i]
        x = x + (sigmas[i + 1] - sigmas[i]) * d
        if callback is not None:
            callback(i, x, denoised)
    return x


def sample_heun(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, cond: object,
                callback: Callback = None) -> torch.Tensor:
    """Heun's second-order method (Karras et al. 2022, Algorithm 1): an Euler step
    corrected by the slope at its end, except for the last step (to sigma 0)."""
    check_sigmas(sigmas)
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i], cond)
        d = (x - denoised) / sigmas[i]
        dt = sigmas[i + 1] - sigmas[i]
        x_next = x + dt * d
        if sigmas[i + 1] > 0:
            d_next = (x_next - model(x_next, sigmas[i + 1], cond)) / sigmas[i + 1]
            x_next = x + dt * (d + d_next) / 2
        x = x_next
        if callback is not None:
            callback(i, x, denoised)
    return x


SAMPLERS: dict[str, Callable[..., torch.Tensor]] = {"euler": sample_euler, "heun": sample_heun}


def get_sampler(name: str) -> Callable[..., torch.Tensor]:
    if name not in SAMPLERS:
        raise ValueError(f"unknown sampler {name!r}; known: {sorted(SAMPLERS)}")
    return SAMPLERS[name]
