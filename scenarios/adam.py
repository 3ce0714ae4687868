"""Gradient tutorial, cells 42-43: the cell-42 problem (sum(tensor * tensor) from
[1., -1.]) optimised with torch.optim.Adam(lr=0.1) instead of SGD, 10 steps.

Watch Adam's steps: about lr (0.1) per step regardless of gradient size, since
it divides by the running RMS of the gradient; compare with SGD's 0.6x shrink.
"""
import torch


def gd_with_adam(initial_theta, lr, steps):
    """ Returns the parameter after `steps` Adam steps. """
    tensor = torch.nn.Parameter(initial_theta, requires_grad=True)
    adam_opt = torch.optim.Adam(params=[tensor], lr=lr)
    print(adam_opt)
    for _ in range(steps):
        adam_opt.zero_grad()
        loss = torch.sum(tensor * tensor)
        loss.backward()
        adam_opt.step()
        print(tensor)
    return tensor

initial_tensor = torch.Tensor([1,-1])
gd_with_adam(initial_tensor, lr=0.1, steps=10)
