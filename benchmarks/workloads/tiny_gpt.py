"""Benchmark workload: a minGPT-like transformer (2 blocks, 29 parameters, ~140-node graph)
trained with AdamW, then an evaluation that generates tokens under no_grad (deterministic).

The shape of real model code: modules with buffers registered in __init__, a loss made
inside the model's forward, gradient clipping, and an evaluation callback after training.

Usage: python tiny_gpt.py [ITERS]   (default 60)
Prints LOOP_SECONDS=<float> (training loop and evaluation) and the final loss.
"""

import math
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

ITERS = int(sys.argv[1]) if len(sys.argv) > 1 else 60

class CausalSelfAttention(nn.Module):
    def __init__(self, n_embd, n_head, block_size):
        super().__init__()
        self.register_buffer("bias", torch.tril(torch.ones(block_size, block_size)).view(1, 1, block_size, block_size))
        self.c_attn = nn.Linear(n_embd, 3 * n_embd)
        self.c_proj = nn.Linear(n_embd, n_embd)
        self.n_head = n_head

    def forward(self, x):
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(C, dim=2)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        att = att.masked_fill(self.bias[:, :, :T, :T] == 0, float("-inf"))
        att = F.softmax(att, dim=-1)
        y = att @ v
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.c_proj(y)


class Block(nn.Module):
    def __init__(self, n_embd, n_head, block_size):
        super().__init__()
        self.ln_1 = nn.LayerNorm(n_embd)
        self.attn = CausalSelfAttention(n_embd, n_head, block_size)
        self.ln_2 = nn.LayerNorm(n_embd)
        self.mlp = nn.ModuleDict(dict(c_fc=nn.Linear(n_embd, 4 * n_embd), c_proj=nn.Linear(4 * n_embd, n_embd)))

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        m = self.mlp
        x = x + m.c_proj(F.gelu(m.c_fc(self.ln_2(x))))
        return x


class GPT(nn.Module):
    def __init__(self, vocab_size=12, block_size=8, n_layer=2, n_head=2, n_embd=16):
        super().__init__()
        self.block_size = block_size
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(vocab_size, n_embd),
            wpe=nn.Embedding(block_size, n_embd),
            h=nn.ModuleList([Block(n_embd, n_head, block_size) for _ in range(n_layer)]),
            ln_f=nn.LayerNorm(n_embd),
        ))
        self.lm_head = nn.Linear(n_embd, vocab_size, bias=False)

    def forward(self, idx, targets=None):
        b, t = idx.size()
        pos = torch.arange(0, t, dtype=torch.long).unsqueeze(0)
        x = self.transformer.wte(idx) + self.transformer.wpe(pos)
        for block in self.transformer.h:
            x = block(x)
        logits = self.lm_head(self.transformer.ln_f(x))
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.reshape(-1))
        return logits, loss


@torch.no_grad()
def generate(model, idx, new_tokens):
    for _ in range(new_tokens):
        logits, _ = model(idx[:, -model.block_size:])
        probs = F.softmax(logits[:, -1, :], dim=-1)
        idx = torch.cat((idx, torch.argmax(probs, dim=-1, keepdim=True)), dim=1)
    return idx


torch.manual_seed(0)
torch.set_num_threads(1)
model = GPT()
optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
data = torch.randint(0, 12, (64, 9))

start = time.perf_counter()
for it in range(ITERS):
    batch = data[(it * 8) % 64:(it * 8) % 64 + 8]
    logits, loss = model(batch[:, :-1], batch[:, 1:])
    model.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
correct = 0
for i in range(0, 64, 8):
    out = generate(model, data[i:i + 8, :4], 4)
    correct += int((out[:, 4:] == data[i:i + 8, 4:8]).all(1).sum())
elapsed = time.perf_counter() - start

print(f"LOOP_SECONDS={elapsed:.6f}")
print(f"final loss {loss.item():.6g} correct {correct}")
