"""backward() twice through the same graph without retain_graph."""
import torch

x = torch.tensor([1.0], requires_grad=True)
y = (x * x).sum()
y.backward()
y.backward()
