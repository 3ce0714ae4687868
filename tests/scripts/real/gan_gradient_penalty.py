"""A tiny WGAN-GP on 2-D toy data, in the style of the PyTorch examples.

The critic's loss adds a gradient penalty: the critic's gradient with respect to points
between real and fake samples, taken with ``torch.autograd.grad(create_graph=True)`` so
that the penalty itself can be differentiated, pushed towards norm 1.
"""

import torch
from torch import nn

torch.manual_seed(0)

generator = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 2))
critic = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 1))
opt_g = torch.optim.Adam(generator.parameters(), lr=1e-3, betas=(0.5, 0.9))
opt_d = torch.optim.Adam(critic.parameters(), lr=1e-3, betas=(0.5, 0.9))
lambda_gp = 10.0


def real_batch(n: int) -> torch.Tensor:
    angle = torch.rand(n) * 2 * torch.pi
    return torch.stack([angle.cos(), angle.sin()], dim=1) + 0.05 * torch.randn(n, 2)


def gradient_penalty(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    alpha = torch.rand(real.size(0), 1)
    mixed = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    score = critic(mixed)
    grads = torch.autograd.grad(outputs=score, inputs=mixed, grad_outputs=torch.ones_like(score),
                                create_graph=True, retain_graph=True)[0]
    return ((grads.norm(2, dim=1) - 1) ** 2).mean()


for iteration in range(10):
    real = real_batch(32)
    fake = generator(torch.randn(32, 2)).detach()
    opt_d.zero_grad()
    penalty = gradient_penalty(real, fake)
    loss_d = critic(fake).mean() - critic(real).mean() + lambda_gp * penalty
    loss_d.backward()
    opt_d.step()

    for p in critic.parameters():  # the generator's step leaves the critic's .grad alone
        p.requires_grad_(False)
    opt_g.zero_grad()
    loss_g = -critic(generator(torch.randn(32, 2))).mean()
    loss_g.backward()
    opt_g.step()
    for p in critic.parameters():
        p.requires_grad_(True)
    print(f"iter {iteration}  loss_d {loss_d.item():.5f}  loss_g {loss_g.item():.5f}  penalty {penalty.item():.5f}")
