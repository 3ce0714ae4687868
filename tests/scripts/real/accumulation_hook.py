"""Gradient accumulation over micro-batches, with hooks on a parameter, as in the PyTorch docs.

Four micro-batches make one optimizer step; ``zero_grad(set_to_none=False)`` keeps the
``.grad`` tensors and fills them with zeros. A hook on the first layer's weight halves
each gradient that flows into it, and a post-accumulate hook reports the weight's
``.grad`` once a micro-batch has been added to it.
"""

import torch
from torch import nn

torch.manual_seed(0)

net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))
opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
x_all = torch.randn(32, 3)
y_all = x_all.sum(dim=1, keepdim=True) ** 2
micro_batches = 4


def halve(grad: torch.Tensor) -> torch.Tensor:
    return grad / 2


def report(param: torch.Tensor) -> None:
    print(f"  accumulated weight.grad norm {param.grad.norm().item():.6f}")


handle = net[0].weight.register_hook(halve)
net[0].weight.register_post_accumulate_grad_hook(report)

for step in range(3):
    opt.zero_grad(set_to_none=False)
    for xb, yb in zip(x_all.chunk(micro_batches), y_all.chunk(micro_batches)):
        loss = nn.functional.mse_loss(net(xb), yb) / micro_batches
        loss.backward()
    print(f"step {step}  grad[0] {net[0].weight.grad[0].tolist()}  bias grad {net[2].bias.grad.tolist()}")
    opt.step()
    if step == 1:
        handle.remove()
        print("halving hook removed")
