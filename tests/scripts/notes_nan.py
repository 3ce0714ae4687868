"""log of a negative number: NaN in the loss, and the op it came from."""
import torch

x = torch.tensor([-1.0], requires_grad=True)
z = x * 2
y = torch.log(z).sum()
y.backward()
