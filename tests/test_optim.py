"""`masque.optim.Adam` is torch's Adam arithmetic without importing torch._dynamo (issue 15)."""

import subprocess
import sys

import torch

from masque.optim import Adam


def _run(opt_cls, steps: int = 12) -> list[torch.Tensor]:
    torch.manual_seed(0)
    target = torch.randn(5, 3)
    params = [torch.zeros(5, 3, requires_grad=True), torch.zeros(3, requires_grad=True),
              torch.zeros(2, requires_grad=True)]  # the last never gets a gradient: it must stay put
    opt = opt_cls(params, lr=0.05)
    for _ in range(steps):
        opt.zero_grad()
        loss = ((params[0] - target) ** 2).sum() + (params[1] - 1).abs().sum() + 0.0 * params[0].sum()
        loss.backward()
        opt.step()
    return [p.detach().clone() for p in params]


def test_matches_torch_adam_step_for_step():
    ours, theirs = _run(Adam), _run(torch.optim.Adam)
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)
    assert float(ours[0].abs().sum()) > 0.1  # it moved
    assert int(torch.count_nonzero(ours[2])) == 0  # no gradient, no step


def test_does_not_import_dynamo():
    code = ("import sys, torch\nfrom masque.optim import Adam\np = torch.zeros(2, requires_grad=True)\n"
            "o = Adam([p], lr=0.1)\np.sum().backward()\no.step()\nprint('torch._dynamo' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
