"""Schedules and samplers on a dummy denoiser: golden values, convergence, bad arguments."""

import pytest
import torch

from models.sampling import (
    check_sigmas,
    get_sampler,
    karras_sigmas,
    sample_euler,
    sample_heun,
)

SIGMA_DATA = 0.5


def gaussian_denoiser(x: torch.Tensor, sigma: torch.Tensor, cond) -> torch.Tensor:
    """The exact E[x0 | x] for x0 ~ N(0, SIGMA_DATA^2): its ODE has a closed form."""
    return x * SIGMA_DATA ** 2 / (SIGMA_DATA ** 2 + sigma ** 2)


def exact_end(x: torch.Tensor, sigma_max: float) -> torch.Tensor:
    """x(0) of the probability-flow ODE of gaussian_denoiser started at sigma_max."""
    return x * SIGMA_DATA / (SIGMA_DATA ** 2 + sigma_max ** 2) ** 0.5


def test_karras_schedule_golden_values() -> None:
    sigmas = karras_sigmas(4, 0.02, 5.0)
    assert sigmas.tolist() == pytest.approx([5.0, 1.2266964, 0.2110767, 0.02, 0.0], rel=1e-5)
    assert karras_sigmas(1, 0.02, 5.0).tolist() == [5.0, 0.0]


@pytest.mark.parametrize("sampler, golden", [(sample_euler, [0.3159018, -0.6318036]),
                                             (sample_heun, [0.7297927, -1.4595853])])
def test_samplers_golden_values(sampler, golden) -> None:
    x = torch.tensor([5.0, -10.0])
    out = sampler(gaussian_denoiser, x, karras_sigmas(4, 0.02, 5.0), None)
    assert out.tolist() == pytest.approx(golden, rel=1e-5)


@pytest.mark.parametrize("sampler", [sample_euler, sample_heun])
def test_samplers_converge_to_the_ode_solution(sampler) -> None:
    x = torch.tensor([5.0, -10.0], dtype=torch.float64)
    out = sampler(gaussian_denoiser, x, karras_sigmas(200, 0.002, 5.0).double(), None)
    assert out.tolist() == pytest.approx(exact_end(x, 5.0).tolist(), rel=0.01)


def test_heun_is_more_accurate_than_euler_at_equal_steps() -> None:
    x = torch.tensor([5.0], dtype=torch.float64)
    sigmas = karras_sigmas(25, 0.002, 5.0).double()
    exact = exact_end(x, 5.0)
    euler = (sample_euler(gaussian_denoiser, x, sigmas, None) - exact).abs()
    heun = (sample_heun(gaussian_denoiser, x, sigmas, None) - exact).abs()
    assert float(heun) < float(euler)


def test_samplers_work_on_complex_tensors_and_call_back_each_step() -> None:
    calls = []
    x = torch.tensor([5.0 + 5.0j], dtype=torch.complex64)
    out = sample_euler(gaussian_denoiser, x, karras_sigmas(6, 0.02, 5.0), None,
                       callback=lambda i, x, d: calls.append(i))
    assert calls == list(range(6))
    assert out.real.item() == pytest.approx(out.imag.item())


@pytest.mark.parametrize("args", [(0, 0.02, 5.0), (4, 5.0, 0.02), (4, 0.0, 5.0),
                                  (4, 0.02, 5.0, -1.0)])
def test_schedule_refuses_bad_arguments(args) -> None:
    with pytest.raises(ValueError):
        karras_sigmas(*args)


@pytest.mark.parametrize("sigmas", [[5.0, 1.0], [1.0, 5.0, 0.0], [5.0, 5.0, 0.0], [0.0],
                                    [5.0, -1.0, 0.0]])
def test_samplers_refuse_bad_schedules(sigmas) -> None:
    with pytest.raises(ValueError):
        check_sigmas(torch.tensor(sigmas))
    with pytest.raises(ValueError):
        sample_heun(gaussian_denoiser, torch.ones(1), torch.tensor(sigmas), None)


def test_unknown_sampler_is_refused() -> None:
    assert get_sampler("heun") is sample_heun
    with pytest.raises(ValueError, match="known"):
        get_sampler("ddpm-1000")


@pytest.mark.parametrize("sampler", [sample_euler, sample_heun])
def test_one_step_returns_the_denoisers_estimate_at_sigma_max(sampler) -> None:
    """The shipped default (generator.steps 1): the posterior mean E[x0 | x] at sigma_max,
    here the Gaussian's shrinkage, not the ODE's end (a draw of the prior's spread)."""
    x = torch.tensor([5.0, -10.0])
    out = sampler(gaussian_denoiser, x, karras_sigmas(1, 0.02, 5.0), None)
    assert out.tolist() == pytest.approx(gaussian_denoiser(x, torch.tensor(5.0), None).tolist(),
                                         abs=1e-6)
    assert float(out.abs().max()) < float(exact_end(x, 5.0).abs().max())
