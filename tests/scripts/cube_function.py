"""A user-defined torch.autograd.Function (Cube): x = 2 -> y = 8, x.grad = 3 * 2**2 = 12."""
import torch


class Cube(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x ** 3

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return 3 * x ** 2 * grad


x = torch.tensor([2.0], requires_grad=True)
y = Cube.apply(x)
print(y)
y.backward()
print(x.grad)
