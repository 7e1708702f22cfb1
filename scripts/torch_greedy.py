#!/usr/bin/env python3
"""The same greedy layerwise run in PyTorch, on the CPU, as the yardstick for `layerwise train`.

Reads a layerwise config (a preset printed by `layerwise presets NAME`, or a run folder's config.toml),
builds the same stages and auxiliary heads, and trains them greedily with the same schedule: SGD with
momentum and weight decay, a fresh optimizer per stage (and at every LR decay when
`optimizer.restart_momentum` is set), the step LR schedule, random crops padded black before
normalising (torchvision's RandomCrop(padding=p) + ToTensor + Normalize) and horizontal flips, the
last partial batch dropped, frozen stages in eval mode. Prints each stage's test accuracy and the
training time and throughput, so the two can be set side by side on one machine.

Supports Fashion-MNIST / MNIST IDX files (the default layerwise presets) and conv / MLP-SR heads.

    layerwise presets fmnist-quick > /tmp/fmnist-quick.toml
    /usr/bin/python3 scripts/torch_greedy.py /tmp/fmnist-quick.toml --data /usr/share/datasets/fashion-mnist
"""
import argparse
import gzip
import json
import os
import struct
import sys
import time
import tomllib

import torch
import torch.nn as nn
import torch.nn.functional as F


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = struct.unpack(">" + "I" * ndim, data[4 : 4 + 4 * ndim])
    return torch.frombuffer(bytearray(data[4 + 4 * ndim :]), dtype=torch.uint8).reshape(dims)


def find(folder, stem):
    for name in (stem, stem + ".gz"):
        if os.path.exists(os.path.join(folder, name)):
            return os.path.join(folder, name)
    sys.exit(f"{folder}: no {stem}[.gz]")


def load_idx(folder):
    x = read_idx(find(folder, "train-images-idx3-ubyte"))
    y = read_idx(find(folder, "train-labels-idx1-ubyte"))
    tx = read_idx(find(folder, "t10k-images-idx3-ubyte"))
    ty = read_idx(find(folder, "t10k-labels-idx1-ubyte"))
    return x.unsqueeze(1), y.long(), tx.unsqueeze(1), ty.long()


class Psi(nn.Module):
    """Invertible 2x2 space-to-depth, channel (dh*2+dw)*C + c, as the papers' code."""

    def forward(self, x):
        n, c, h, w = x.shape
        return x.view(n, c, h // 2, 2, w // 2, 2).permute(0, 3, 5, 1, 2, 4).reshape(n, 4 * c, h // 2, w // 2)


def stage_module(s, cin):
    layers = []
    down = s.get("downsample", "none")
    if down == "space-to-depth":
        layers.append(Psi())
        cin *= 4
    elif down == "maxpool":
        layers.append(nn.MaxPool2d(2))
    layers += [
        nn.Conv2d(cin, s["width"], 3, padding=1, bias=s.get("bias", False)),
        nn.BatchNorm2d(s["width"]) if s.get("batchnorm", False) else nn.Identity(),
        nn.ReLU(inplace=True),
    ]
    return nn.Sequential(*layers)


def head_module(h, c, size, classes):
    layers = []
    if h["kind"] == "conv":
        width = h.get("width", 0) or c
        for _ in range(h.get("k", 1) - 1):
            layers += [nn.Conv2d(c, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
            c = width
        layers += [nn.AdaptiveAvgPool2d(min(2, size)), nn.BatchNorm2d(c) if h.get("batchnorm") else nn.Identity()]
        layers += [nn.Flatten(), nn.Linear(min(2, size) ** 2 * c, classes)]
    else:  # mlp-sr
        layers.append(nn.AdaptiveAvgPool2d(max(1, -(-size // 4))))
        for _ in range(h.get("convs", 3)):
            layers += [nn.Conv2d(c, c, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU(inplace=True)]
        layers += [nn.AdaptiveAvgPool2d(2), nn.Flatten()]
        for _ in range(h.get("mlp", 3)):
            layers += [nn.Linear(4 * c, 4 * c, bias=False), nn.BatchNorm1d(4 * c), nn.ReLU(inplace=True)]
        layers.append(nn.Linear(4 * c, classes))
    return nn.Sequential(*layers)


def augment(xb, pad, flip, mean, std, gen):
    """uint8 [N, C, H, W] -> normalised floats, random crop padded black, random flip."""
    x = xb.float() / 255.0
    n, _, h, w = x.shape
    if pad > 0:
        x = F.pad(x, (pad, pad, pad, pad))  # black, before normalising (as torchvision's RandomCrop)
        dy = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
        dx = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
        rows = (dy.view(n, 1) + torch.arange(h)).view(n, 1, h, 1).expand(n, x.shape[1], h, x.shape[3])
        x = torch.gather(x, 2, rows)
        cols = (dx.view(n, 1) + torch.arange(w)).view(n, 1, 1, w).expand(n, x.shape[1], h, w)
        x = torch.gather(x, 3, cols)
    if flip:
        f = torch.rand(n, generator=gen) < 0.5
        x[f] = x[f].flip(3)
    return (x - mean) / std


def accuracy(modules, head, x, y, mean, std, batch=1000):
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), batch):
            h = (x[i : i + batch].float() / 255.0 - mean) / std
            for m in modules:
                h = m(h)
            correct += (head(h).argmax(1) == y[i : i + batch]).sum().item()
    return 100.0 * correct / len(x)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("config", help="layerwise config TOML")
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist", help="folder of IDX files")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--epochs", type=int, help="override epochs per stage")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cfg = tomllib.load(open(args.config, "rb"))
    torch.manual_seed(cfg.get("seed", 0))
    gen = torch.Generator().manual_seed(cfg.get("seed", 0))
    x, y, tx, ty = load_idx(args.data)
    if cfg.get("max_train_images", 0):
        keep = torch.randperm(len(x), generator=gen)[: cfg["max_train_images"]]
        x, y = x[keep], y[keep]
    opt, aug = cfg["optimizer"], cfg["augment"]
    mean = torch.tensor(aug["mean"]).view(1, -1, 1, 1)
    std = torch.tensor(aug["std"]).view(1, -1, 1, 1)
    epochs, b = args.epochs or cfg["epochs"], cfg["batch_size"]
    classes, c, size = int(y.max()) + 1, x.shape[1], x.shape[2]
    frozen, heads, total_train = [], [], 0.0
    for j, s in enumerate(cfg["stages"]):
        stage = stage_module(s, c)
        with torch.no_grad():
            probe = stage(torch.zeros(2, c, size, size))
        c, size = probe.shape[1], probe.shape[2]
        head = head_module(s["head"], c, size, classes)
        params = list(stage.parameters()) + list(head.parameters())
        t0 = time.time()
        for epoch in range(epochs):
            lr = opt["lr"] * opt["lr_decay"] ** (epoch // opt["lr_step"])
            if epoch == 0 or (opt.get("restart_momentum") and epoch % opt["lr_step"] == 0):
                sgd = torch.optim.SGD(params, lr=lr, momentum=opt["momentum"], weight_decay=opt["weight_decay"])
            for g in sgd.param_groups:
                g["lr"] = lr
            stage.train()
            head.train()
            perm = torch.randperm(len(x), generator=gen)
            for i in range(0, len(x) - b + 1, b):
                idx = perm[i : i + b]
                h = augment(x[idx], aug["pad"], aug["flip"], mean, std, gen)
                with torch.no_grad():
                    for m in frozen:
                        h = m(h)
                loss = F.cross_entropy(head(stage(h)), y[idx])
                sgd.zero_grad(set_to_none=True)
                loss.backward()
                sgd.step()
        secs = time.time() - t0
        total_train += secs
        stage.eval()
        head.eval()
        frozen.append(stage)
        heads.append(head)
        acc = accuracy(frozen, head, tx, ty, mean, std)
        steps = len(x) // b
        rate = steps * b * epochs / secs
        print(json.dumps({"stage": j, "test_acc": round(acc, 2), "train_seconds": round(secs, 1), "img_per_s": round(rate)}))
    print(json.dumps({"total_train_seconds": round(total_train, 1), "threads": args.threads, "torch": torch.__version__}))


if __name__ == "__main__":
    main()
