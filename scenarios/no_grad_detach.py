"""Tensor-gradients tutorial, cells 5-6: stopping gradient tracking.

Watch (x ** 2).requires_grad be True normally but False inside torch.no_grad(),
and x.detach() give a tensor with the same values that does not require grad.
"""
import torch

torch.manual_seed(0)

x = torch.randn(3, requires_grad=True)

print(x.requires_grad)
print((x ** 2).requires_grad)

with torch.no_grad():
    print((x ** 2).requires_grad)

print(x.requires_grad)
y = x.detach()
print(y.requires_grad)
print(x.eq(y).all())
