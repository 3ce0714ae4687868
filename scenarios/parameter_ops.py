"""Gradient tutorial, cells 5-8: wrapping a tensor in nn.Parameter and operating on it.

Watch each result remember the operation that produced it: `parameters + 5`
gets grad_fn=<AddBackward0>, `torch.exp(parameters)` gets grad_fn=<ExpBackward0>.
"""
import torch

tensor = torch.Tensor([[1, 2], [3, 4]])
parameters = torch.nn.Parameter(tensor) # stores operations applied to
print(parameters)

# everytime we perform an operation on a torch Parameter,
# it is recorded in each computed tensor.
temp = parameters + 5
print(temp)

temp = torch.exp(parameters)
print(temp)
# remembered operation performed exp
