# A DataLoader whose workers are spawned (not forked), kept alive between epochs, and a spawn Pool.
import multiprocessing as mp
import torch
from torch.utils.data import DataLoader, TensorDataset


def square(v):
    return v * v


if __name__ == "__main__":
    torch.manual_seed(0)
    data = TensorDataset(torch.arange(8.0).reshape(8, 1), torch.arange(8.0))
    loader = DataLoader(data, batch_size=4, num_workers=2, multiprocessing_context="spawn", persistent_workers=True)
    w = torch.zeros(1, requires_grad=True)
    for epoch in range(2):
        for xb, yb in loader:
            loss = ((xb[:, 0] * w - yb) ** 2).mean()
            w.grad = None
            loss.backward()
            print(epoch, round(loss.item(), 4))
    with mp.get_context("spawn").Pool(2) as pool:
        print(pool.map(square, [1, 2, 3]))
