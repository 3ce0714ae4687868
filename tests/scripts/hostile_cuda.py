"""Moves a tensor to CUDA on a machine without a GPU: torch's own error."""
import torch
x = torch.ones(2)
y = x.to("cuda")
