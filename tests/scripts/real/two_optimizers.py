# Two parts of one model trained by two optimizers, as in fine-tuning a pretrained body
# with a fresh head: the body by SGD with momentum in two parameter groups (its first
# layer at a tenth of the learning rate), stepped down by StepLR; the head by Adam with
# a cosine schedule, its gradients clipped by value. Prints the loss and both
# optimizers' learning rates every 5 steps.
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)
x = torch.randn(32, 6)
labels = (x[:, 0] + x[:, 1] > 0).long()

body = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU())
head = nn.Linear(8, 2)

opt_body = torch.optim.SGD([
    {"params": body[0].parameters(), "lr": 0.01},
    {"params": body[2].parameters()},
], lr=0.1, momentum=0.9)
opt_head = torch.optim.Adam(head.parameters(), lr=0.05)
sched_body = torch.optim.lr_scheduler.StepLR(opt_body, step_size=5, gamma=0.5)
sched_head = torch.optim.lr_scheduler.CosineAnnealingLR(opt_head, T_max=20, eta_min=0.001)

for step in range(20):
    logits = head(body(x))
    loss = F.cross_entropy(logits, labels)
    opt_body.zero_grad()
    opt_head.zero_grad()
    loss.backward()
    nn.utils.clip_grad_value_(head.parameters(), clip_value=0.05)
    opt_body.step()
    opt_head.step()
    sched_body.step()
    sched_head.step()
    if step % 5 == 4:
        print(f"step {step:2d} loss {loss.item():.6f} lr body {sched_body.get_last_lr()} head {sched_head.get_last_lr()}")

accuracy = (head(body(x)).argmax(1) == labels).float().mean().item()
print(f"accuracy {accuracy:.4f}")
