"""Gradient tutorial, cells 42 and 45: the cell-42 problem (sum(tensor * tensor)
from [1., -1.]) optimised with torch.optim.LBFGS(lr=1), 2 steps.

Watch step(closure): LBFGS calls the closure (zero_grad, loss, backward) itself,
several times per step; on this quadratic it reaches [0., 0.] in the first step.
"""
import torch


def gd_with_lbfgs(initial_theta, lr, steps):
    """ Returns the parameter after `steps` LBFGS steps. """
    tensor = torch.nn.Parameter(initial_theta, requires_grad=True)
    lbg_opt = torch.optim.LBFGS(params=[tensor], lr=lr)
    print(lbg_opt)

    def closure():
        lbg_opt.zero_grad()
        loss = torch.sum(tensor * tensor)
        loss.backward()
        return loss

    for _ in range(steps):
        lbg_opt.step(closure)
        print(tensor)
    return tensor

initial_tensor = torch.Tensor([1,-1])
gd_with_lbfgs(initial_tensor, lr=1, steps=2)
