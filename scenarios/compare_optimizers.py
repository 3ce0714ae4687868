"""Gradient tutorial, cells 42-45: one problem, four optimizers, to be compared side by side.

The cell-42 problem (minimise sum(tensor * tensor) from [1., -1.]) trained with the
optimizer --optimizer names: sgd (lr 0.2, as in cell 42: each step multiplies the
parameter by 0.6), adam (lr 0.1: about lr per step whatever the gradient's size),
rmsprop (lr 0.01, the tutorial's default) or lbfgs (lr 1: reaches [0, 0] in one step).
--lr and --steps override the learning rate and the number of steps (10).

Every optimizer is built on the same line and stepped with the same closure, so two runs
differ only in what the optimizer does:

    gradtui --compare "scenarios/compare_optimizers.py --optimizer sgd" \\
                      "scenarios/compare_optimizers.py --optimizer adam"
"""
import argparse

import torch

OPTIMIZERS = {"sgd": "SGD", "adam": "Adam", "rmsprop": "RMSprop", "lbfgs": "LBFGS"}
DEFAULT_LR = {"sgd": 0.2, "adam": 0.1, "rmsprop": 0.01, "lbfgs": 1.0}

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--optimizer", choices=sorted(OPTIMIZERS), default="sgd")
parser.add_argument("--lr", type=float, default=None, help="learning rate (default: per optimizer)")
parser.add_argument("--steps", type=int, default=10)
args = parser.parse_args()
lr = DEFAULT_LR[args.optimizer] if args.lr is None else args.lr

tensor = torch.nn.Parameter(torch.Tensor([1, -1]), requires_grad=True)
optimizer = getattr(torch.optim, OPTIMIZERS[args.optimizer])(params=[tensor], lr=lr)


def closure():
    optimizer.zero_grad()
    loss = torch.sum(tensor * tensor)
    loss.backward()
    return loss


for step in range(args.steps):
    loss = optimizer.step(closure)
    print(f"step {step + 1}: loss {loss.item():.6g}  tensor {tensor.tolist()}")
