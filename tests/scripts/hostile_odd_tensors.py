"""Integer, boolean, 0-d, complex, sparse and non-finite tensors."""
import torch
i = torch.arange(6).reshape(2, 3) * 2
b = torch.tensor([True, False]) & torch.tensor([True, True])
z = torch.tensor(3.5) * 2
c = torch.tensor([1 + 2j, 3 - 4j]) * 2
s = torch.sparse_coo_tensor([[0, 1], [1, 0]], [3.0, 4.0], (2, 2)) * 2
n = torch.tensor([float("nan"), float("inf"), 1.0]) + 1
print(i.sum().item(), b.tolist(), z.item(), c.abs().tolist(), s.to_dense().tolist())
