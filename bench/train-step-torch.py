#!/usr/bin/env python3
"""The reference for bench/vs-pytorch.ts: the same SimCLR training step as bench/train-step.ts, written in PyTorch.

Same model (ResNet-18 with torchvision's layout and initialisation, CIFAR stem, width multiplier, 1 input channel; projection head
Linear-BN-ReLU-Linear-BN without biases and with an affine-free last BN; online linear classifier on the detached
representation), same loss (NT-Xent over both views, self-similarity masked, + the classifier's cross entropy), same
optimizer (Adam, lr 2e-3, weight decay 1e-6), both views through the encoder as one batch, random inputs. Runs on the
CPU with a given number of intra-op threads, or on a CUDA GPU (--device cuda: PyTorch's defaults, cuDNN with TF32
convolutions and FP32 matmuls; each step timed to a torch.cuda.synchronize()), and prints one JSON line: the step
times (wall and process CPU), after a warm-up step that is not counted.

Usage: python bench/train-step-torch.py --width 0.5 --batch 128 --size 16 --head 256 --nce 64 --threads 2 --steps 6
  [--device cpu|cuda]
"""
import argparse
import json
import time

import torch
import torch.nn.functional as F
from torch import nn


class BasicBlock(nn.Module):
    def __init__(self, in_c: int, planes: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_c, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or in_c != planes:
            self.downsample = nn.Sequential(nn.Conv2d(in_c, planes, 1, stride, 0, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + (x if self.downsample is None else self.downsample(x)))


class SimCLR(nn.Module):
    def __init__(self, width: float, channels: int, head: int, nce: int, classes: int):
        super().__init__()
        c = lambda base: max(1, round(base * width))  # noqa: E731 - trainer/models' width()
        self.conv1 = nn.Conv2d(channels, c(64), 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c(64))
        layers, in_c = [], c(64)
        for planes, stride in [(c(64), 1), (c(128), 2), (c(256), 2), (c(512), 2)]:
            layers.append(nn.Sequential(BasicBlock(in_c, planes, stride), BasicBlock(planes, planes, 1)))
            in_c = planes
        self.layers = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Linear(in_c, head, bias=False), nn.BatchNorm1d(head), nn.ReLU(),
                                  nn.Linear(head, nce, bias=False), nn.BatchNorm1d(nce, affine=False))
        self.classifier = nn.Linear(in_c, classes)
        for m in self.modules():  # trainer/models/params.ts (torchvision's ResNet init); Linear keeps PyTorch's
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode='fan_out', nonlinearity='relu')

    def forward(self, x):
        h = self.layers(F.relu(self.bn1(self.conv1(x)))).mean(dim=(2, 3))
        return h, self.head(h), self.classifier(h.detach())


def nt_xent(z: torch.Tensor, temperature: float) -> torch.Tensor:
    z = F.normalize(z, dim=1)
    n = z.shape[0] // 2
    sim = (z @ z.T) / temperature
    sim = sim.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device), float('-inf'))
    positives = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    return F.cross_entropy(sim, positives)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument('--width', type=float, default=0.5)
    p.add_argument('--batch', type=int, default=128)
    p.add_argument('--size', type=int, default=16)
    p.add_argument('--channels', type=int, default=1)
    p.add_argument('--head', type=int, default=256)
    p.add_argument('--nce', type=int, default=64)
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--steps', type=int, default=6)
    p.add_argument('--device', choices=['cpu', 'cuda'], default='cpu')
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    dev = torch.device(a.device)
    sync = torch.cuda.synchronize if a.device == 'cuda' else (lambda: None)
    model = SimCLR(a.width, a.channels, a.head, a.nce, 10).train().to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3, weight_decay=1e-6)
    view1 = torch.rand(a.batch, a.channels, a.size, a.size).to(dev)
    view2 = torch.rand(a.batch, a.channels, a.size, a.size).to(dev)
    labels = (torch.arange(a.batch) % 10).to(dev)
    wall, cpu, losses = [], [], []
    for i in range(a.steps + 1):
        t0, c0 = time.perf_counter(), time.process_time()
        _, z, logits = model(torch.cat([view1, view2]))
        loss = nt_xent(z, 0.2) + F.cross_entropy(logits, torch.cat([labels, labels]))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sync()
        if i > 0:
            wall.append(1e3 * (time.perf_counter() - t0))
            cpu.append(1e3 * (time.process_time() - c0))
        losses.append(loss.item())
    device = torch.cuda.get_device_name() if a.device == 'cuda' else 'cpu'
    print(json.dumps({'impl': 'pytorch', 'torch': torch.__version__, 'device': device, 'threads': a.threads,
                      'stepMs': wall, 'cpuMs': cpu, 'losses': losses}))


if __name__ == '__main__':
    main()
