"""One gradient that explodes and one that vanishes."""
import torch

big = torch.tensor([1e6], requires_grad=True)
small = torch.tensor([1e-3], requires_grad=True)
loss = (big * big).sum() + (small ** 4).sum()
loss.backward()
