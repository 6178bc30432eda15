"""Measurement operators: adjoint identity, Moore-Penrose pseudo-inverse, Gram solves, errors."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from studio.core.errors import ParamError
from studio.core.inverse.guidance import build_operator
from studio.core.inverse.operators import OPERATORS

CASES = {
    "inpaint-vector": ({"kind": "inpaint", "mask": [1, 0, 1, 1, 0]}, (5,)),
    "inpaint-image": ({"kind": "inpaint", "mask": [[1, 0, 1], [0, 1, 1]]}, (3, 2, 3)),
    "super-resolution": ({"kind": "super-resolution", "factor": 2}, (2, 4, 6)),
    "super-resolution-3": ({"kind": "super-resolution", "factor": 3}, (6, 3)),
    "blur": ({"kind": "blur", "sigma": 0.8, "cutoff": 0.0}, (1, 6, 5)),
    "colorize": ({"kind": "colorize"}, (3, 3, 2)),
    "colorize-weights": ({"kind": "colorize", "weights": [0.299, 0.587, 0.114]}, (2, 3, 2, 2)),
    "projection": ({"kind": "projection", "m": 3, "seed": 4}, (7,)),
    "projection-tall": ({"kind": "projection", "m": 9, "seed": 1}, (2, 2)),
    "projection-matrix": ({"kind": "projection", "matrix": [[1, 2, 0], [0, 1, 1]]}, (3,)),
}


def _op(name):
    spec, shape = CASES[name]
    return build_operator(dict(spec)).bind(shape), shape


def test_every_registered_operator_is_covered():
    assert {spec["kind"] for spec, _ in CASES.values()} == set(OPERATORS.ids())


@pytest.mark.parametrize("name", sorted(CASES))
def test_adjoint_identity(name):
    op, shape = _op(name)
    g = torch.Generator().manual_seed(0)
    x = torch.randn((6,) + shape, generator=g, dtype=torch.float64)
    y = torch.randn((6,) + op.out_shape, generator=g, dtype=torch.float64)
    lhs = (op.forward(x) * y).reshape(6, -1).sum(1)
    rhs = (x * op.adjoint(y)).reshape(6, -1).sum(1)
    assert torch.allclose(lhs, rhs, rtol=1e-12, atol=1e-12)
    a = op.dense()
    assert a.shape == (int(np.prod(op.out_shape)), int(np.prod(shape)))
    assert torch.allclose(op.forward(x).reshape(6, -1), x.reshape(6, -1) @ a.T, atol=1e-12)


@pytest.mark.parametrize("name", sorted(CASES))
def test_pseudo_inverse_is_moore_penrose(name):
    op, shape = _op(name)
    a = op.dense()
    m = a.shape[0]
    eye = torch.eye(m, dtype=torch.float64).reshape((m,) + op.out_shape)
    p = op.pinv(eye).reshape(m, -1).T                      # the matrix of A^+ [D, M]
    tol = 1e-9
    assert torch.allclose(a @ p @ a, a, atol=tol)
    assert torch.allclose(p @ a @ p, p, atol=tol)
    assert torch.allclose((a @ p).T, a @ p, atol=tol)
    assert torch.allclose((p @ a).T, p @ a, atol=tol)
    assert torch.allclose(p, torch.linalg.pinv(a), atol=1e-8)


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("r2,s2", [(0.3, 0.05), (torch.tensor([0.1, 2.0]), torch.tensor([0.5, 0.01]))])
def test_gram_solve(name, r2, s2):
    op, shape = _op(name)
    a = op.dense()
    v = torch.randn((2,) + op.out_shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    got = op.gram_solve(v, r2, s2).reshape(2, -1)
    for b in range(2):
        rb = float(r2[b]) if isinstance(r2, torch.Tensor) else r2
        sb = float(s2[b]) if isinstance(s2, torch.Tensor) else s2
        gram = rb * a @ a.T + sb * torch.eye(a.shape[0], dtype=torch.float64)
        vb = op.measured(v[b:b + 1]).reshape(-1)
        want = torch.linalg.pinv(gram, hermitian=True) @ vb
        if name.startswith("inpaint"):   # unmeasured entries are outside the range: dropped
            want = op.measured(want.reshape((1,) + op.out_shape)).reshape(-1)
            got_b = op.measured(got[b].reshape((1,) + op.out_shape)).reshape(-1)
        else:
            got_b = got[b]
        assert torch.allclose(got_b, want, rtol=1e-7, atol=1e-9), name


@pytest.mark.parametrize("name", ["projection", "super-resolution", "colorize", "inpaint-image"])
def test_gram_solve_noiseless_acts_on_the_range(name):
    op, _ = _op(name)
    a = op.dense()
    m = a.shape[0]
    v = torch.randn((1,) + op.out_shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    got = op.gram_solve(v, 0.5, 0.0).reshape(-1)
    want = torch.linalg.pinv(0.5 * a @ a.T, hermitian=True) @ v.reshape(-1)
    assert torch.allclose(got, want, atol=1e-8)
    assert m == got.numel()


def test_blur_cutoff_truncates_the_pseudo_inverse():
    op = build_operator({"kind": "blur", "sigma": 2.0, "cutoff": 1e-2}).bind((8, 8))
    a = op.dense()
    eye = torch.eye(64, dtype=torch.float64).reshape(64, 8, 8)
    p = op.pinv(eye).reshape(64, -1).T
    assert torch.allclose(p @ a @ p, p, atol=1e-9)           # still a generalised inverse
    assert float(torch.linalg.matrix_norm(p, 2)) <= 1 / (1e-2 * 1.0) + 1e-6
    x = torch.randn(3, 8, 8, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert torch.allclose(op.forward(x).sum((1, 2)), x.sum((1, 2)))  # the kernel sums to one


def test_inpaint_measure_noise_only_on_observed_entries():
    op = build_operator({"kind": "inpaint", "mask": [1, 0, 1]}).bind((3,))
    y = op.measure(torch.ones(4, 3, dtype=torch.float64), 0.5, torch.Generator().manual_seed(0))
    assert torch.all(y[:, 1] == 0) and not torch.all(y[:, 0] == 1)
    assert op.meas_size == 2


@pytest.mark.parametrize("spec,shape,field,text", [
    ({"kind": "inpaint", "mask": [0, 0.5]}, (2,), "mask", "0 or 1"),
    ({"kind": "inpaint", "mask": [1, 0, 1]}, (2,), "mask", "does not broadcast"),
    ({"kind": "super-resolution", "factor": 3}, (4, 4), "factor", "divisible"),
    ({"kind": "super-resolution"}, (4,), "operator", "image data"),
    ({"kind": "colorize"}, (1, 4, 4), "operator", "RGB"),
    ({"kind": "blur", "size": 4}, (8, 8), "size", "odd"),
    ({"kind": "projection", "matrix": [[1, 2]]}, (3,), "matrix", "columns"),
])
def test_errors_name_the_field(spec, shape, field, text):
    with pytest.raises(ParamError) as exc:
        build_operator(spec).bind(shape)
    assert field in str(exc.value) and text in str(exc.value)


def test_unknown_kind_and_params():
    with pytest.raises(ParamError, match="operator.kind.*valid: inpaint"):
        build_operator({"kind": "nope"})
    with pytest.raises(ParamError, match="operator.*unknown parameter 'sigmaa'"):
        build_operator({"kind": "blur", "sigmaa": 1})


def test_batched_cg_solves_each_item_and_handles_singular_systems():
    from studio.core.inverse.linalg import cg
    g = torch.Generator().manual_seed(0)
    b_mat = torch.randn(5, 5, generator=g, dtype=torch.float64)
    spd = b_mat @ b_mat.T + 0.5 * torch.eye(5, dtype=torch.float64)
    rhs = torch.randn(3, 5, generator=g, dtype=torch.float64)
    x = cg(lambda v: v @ spd, rhs, torch.zeros_like(rhs), iters=20)
    assert torch.allclose(x, torch.linalg.solve(spd, rhs.T).T, atol=1e-9)
    # rank one: converges in one step to the projection of x0 onto {a.x = b}, then stays put
    a = torch.tensor([[0.6, -0.8]], dtype=torch.float64)
    x0 = torch.randn(50, 2, generator=g, dtype=torch.float64)
    rhs = torch.randn(50, 1, generator=g, dtype=torch.float64) @ a
    x = cg(lambda v: (v @ a.T) @ a, rhs, x0, iters=5)
    assert torch.allclose((x @ a.T) @ a, rhs, atol=1e-12)
    assert torch.allclose(x @ torch.tensor([0.8, 0.6], dtype=torch.float64),
                          x0 @ torch.tensor([0.8, 0.6], dtype=torch.float64), atol=1e-12)


@pytest.mark.parametrize("name", sorted(CASES))
def test_float32_batches(name):
    op, shape = _op(name)
    x = torch.randn((2,) + shape, generator=torch.Generator().manual_seed(0)).float()
    y = op.forward(x)
    assert y.dtype == torch.float32 and op.adjoint(y).dtype == torch.float32
    assert op.pinv(y).dtype == torch.float32 and op.gram_solve(y, 0.5, 0.1).dtype == torch.float32
