"""A user torch.optim.Optimizer subclass (PlainSGD, zero_grad leaves zeros) plus a module zero_grad (-> None)."""
import torch
import torch.nn as nn


class PlainSGD(torch.optim.Optimizer):
    def __init__(self, params, lr=0.1):
        super().__init__(params, dict(lr=lr))

    def zero_grad(self, set_to_none=True):
        super().zero_grad(set_to_none=False)

    def step(self, closure=None):
        with torch.no_grad():
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is not None:
                        p.add_(p.grad, alpha=-group["lr"])


p = nn.Parameter(torch.tensor([1.0, -1.0]))
opt = PlainSGD([p], lr=0.2)
for _ in range(2):
    opt.zero_grad()
    loss = torch.sum(p * p)
    loss.backward()
    opt.step()
    print(p)
opt.zero_grad()
print(p.grad)

lin = nn.Linear(2, 1)
lin(torch.ones(1, 2)).sum().backward()
print(lin.weight.grad)
lin.zero_grad()
print(lin.weight.grad)
