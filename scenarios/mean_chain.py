"""Tensor-gradients tutorial, cells 3-4: backward() through y = x + 2, z = 3 * y**2, out = z.mean().

Watch x.grad become 4.5 everywhere (d out/dx = 6 * (x + 2) / 4 = 4.5), while the
intermediate (non-leaf) y and z keep .grad None -- torch warns about reading it --
even though they require grad and carry grad_fn AddBackward0 / MulBackward0.
"""
import torch

x = torch.ones(2, 2, requires_grad=True)
print(x)

y = x + 2
print(y)

z = 3 * (y ** 2)
print(z)

out = z.mean()
print(out)

out.backward()  # equivalent to out.backward(torch.tensor(1.)) since out contains a single scalar

print(x.grad)

print('y:', y)
print('y.grad:', y.grad)
print('y.requires_grad:', y.requires_grad)
print('y.grad_fn:', y.grad_fn)

print('z:', z)
print('z.grad:', z.grad)
print('z.requires_grad:', z.requires_grad)
print('z.grad_fn:', z.grad_fn)
