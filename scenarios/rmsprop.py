"""Gradient tutorial, cells 42 and 44: the cell-42 problem (sum(tensor * tensor)
from [1., -1.]) optimised with torch.optim.RMSprop(lr=0.01), 10 steps.

Watch the first step jump by lr / sqrt(1 - alpha) = 0.1 (the square-average
starts at zero), then the steps shrink as the running average of grad**2 grows.
"""
import torch


def gd_with_rmsprop(initial_theta, lr, steps):
    """ Returns the parameter after `steps` RMSprop steps. """
    tensor = torch.nn.Parameter(initial_theta, requires_grad=True)
    rms_opt = torch.optim.RMSprop(params=[tensor], lr=lr)
    print(rms_opt)
    for _ in range(steps):
        rms_opt.zero_grad()
        loss = torch.sum(tensor * tensor)
        loss.backward()
        rms_opt.step()
        print(tensor)
    return tensor

initial_tensor = torch.Tensor([1,-1])
gd_with_rmsprop(initial_tensor, lr=0.01, steps=10)
