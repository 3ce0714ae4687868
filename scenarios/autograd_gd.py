"""Gradient tutorial, cells 25, 32-34: gradient descent using autograd for the gradient.

Watch gradient_autograd wrap a fresh Parameter every call, so each gradient is
fresh (2*theta): theta goes 0.6, 0.36, ... 0.0060 and the gradient 1.2, 0.72, ...
"""
import torch


def gradient_autograd(tensor):
    tensor_with_grad = torch.nn.Parameter(tensor)
    loss = tensor_with_grad * tensor_with_grad  # loss = theta * theta
    loss.backward()
    return tensor_with_grad.grad


def gd_torch_autograd(initial_theta, lr, steps):
    """ Returns automatic gradient. """
    tensor = initial_theta
    for _ in range(steps):
        tensor = tensor - lr * gradient_autograd(tensor)
        print(tensor, "-- gd: ", gradient_autograd(tensor))
    return tensor


initial_theta = torch.Tensor([1])
print(gd_torch_autograd(initial_theta, lr=0.2, steps=10))

print(gradient_autograd(initial_theta))
