"""Tensor-gradients tutorial, cell 2: the requires_grad flag.

Watch a plain torch.ones(2, 2) have requires_grad False, while the one created
with requires_grad=True is tracked (its repr shows requires_grad=True).
"""
import torch

x = torch.ones(2, 2)
print(x)
print(x.requires_grad)

x = torch.ones(2, 2, requires_grad=True)
print(x)
print(x.requires_grad)
