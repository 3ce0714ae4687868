# multiprocessing with the fork start method: a Pool maps a function of the script's own.
import multiprocessing

import torch


def square_sum(n):
    t = torch.arange(n, dtype=torch.float32)
    return (t * t).sum().item()


if __name__ == "__main__":
    with multiprocessing.get_context("fork").Pool(2) as pool:
        sums = pool.map(square_sum, [3, 4, 5, 6])
    print(sums)
    w = torch.tensor(sums, requires_grad=True)
    (w * w).sum().backward()
    print(w.grad.tolist())
