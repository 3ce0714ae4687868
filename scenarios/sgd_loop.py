"""Gradient tutorial, cell 42: gradient descent with torch.optim.SGD.

Watch the zero_grad / backward / step cycle: each step multiplies the
parameter by 0.6, from [1, -1] to [0.6, -0.6] ... [0.0060, -0.0060].
"""
import torch


# gradient descent with optimizer
def gd_with_optimizer(initial_theta, lr, steps):
    """ Returns gradient descents with the SGD optimiser. """
    tensor = torch.nn.Parameter(initial_theta, requires_grad=True)
    optimizer = torch.optim.SGD(params=[tensor], lr=lr)
    for _ in range(steps):
        optimizer.zero_grad()
        loss = torch.sum(tensor * tensor)
        loss.backward()
        optimizer.step()
        print(tensor)
    return tensor

initial_tensor = torch.Tensor([1,-1])
gd_with_optimizer(initial_tensor, lr=0.2, steps=10)
