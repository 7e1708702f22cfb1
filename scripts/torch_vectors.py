#!/usr/bin/env python3
"""PyTorch float64 reference vectors for layerwise's tests: tests/fixtures/torch_vectors.safetensors and
tests/fixtures/torch_vectors.json (what every case computes, and every tensor's shape), and
tests/fixtures/torchvision_models.json (the state_dict names and shapes of torchvision's ImageNet ResNets
and VGGs, which layerwise's checkpoints of those networks must match).

Every tensor is float64 and in PyTorch's layout (NCHW activations, OIHW conv weights, [out, in] linear
weights); the tests permute to layerwise's NHWC. Gradients are those of sum(y * d_y) for a random d_y
stored next to them, unless a case says otherwise. Each case draws its inputs from its own seed (derived
from its name), so adding or changing one case leaves every other case's numbers as they were.

Needs Debian's PyTorch and torchvision (`apt-get install python3-torch python3-torchvision`); writes the
safetensors file itself, so nothing else is needed. Regenerate the fixtures with:

    /usr/bin/python3 scripts/torch_vectors.py tests/fixtures
"""

import json
import math
import os
import struct
import sys
import zlib

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
import torchvision.transforms.functional as TF
from PIL import Image
from torchvision.models.resnet import BasicBlock, Bottleneck

torch.set_default_dtype(torch.float64)
# One thread: the same PyTorch build then gives the same bytes on every run.
torch.set_num_threads(1)

CASES = {}  # case name -> what it computes (written to the JSON)
TENSORS = {}  # "<case>.<tensor>" -> float64 tensor


def case(name, doc):
    """Decorator: compute case `name` now, with its own seed, from the tensors the function returns."""

    def register(make):
        CASES[name] = doc
        torch.manual_seed(zlib.crc32(name.encode()))
        for key, value in make().items():
            TENSORS[f"{name}.{key}"] = value.detach().to(torch.float64).contiguous().clone()
        return make

    return register


def gradients(y, inputs):
    """d_y ~ N(0, 1) and the gradients of sum(y * d_y) with respect to each of `inputs`."""
    d_y = torch.randn_like(y)
    return d_y, torch.autograd.grad(y, inputs, d_y)


def randomise_batchnorm(bn):
    """Non-trivial affine parameters and running statistics, so that no term of a check vanishes."""
    c = bn.num_features
    with torch.no_grad():
        bn.weight.copy_(torch.rand(c) + 0.5)
        bn.bias.copy_(torch.randn(c))
        bn.running_mean.copy_(torch.randn(c) * 0.1)
        bn.running_var.copy_(torch.rand(c) + 0.5)


def state(module):
    """The state_dict without `num_batches_tracked` (layerwise has no such counter)."""
    return {k: v.clone() for k, v in module.state_dict().items() if not k.endswith("num_batches_tracked")}


def module_case(module, x):
    """One training-mode forward of `module` and the gradients of sum(y * d_y): x, y, d_y, d_x; every
    parameter and running statistic before (`before.NAME`), the running statistics after the forward
    (`after.NAME`), and every parameter's gradient (`grad.NAME`), NAME as in module.state_dict()."""
    before = state(module)
    module.train()
    x = x.clone().requires_grad_(True)
    y = module(x)
    names, params = zip(*module.named_parameters())
    d_y, (d_x, *d_params) = gradients(y, (x, *params))
    out = {"x": x, "y": y, "d_y": d_y, "d_x": d_x}
    out.update({f"before.{k}": v for k, v in before.items()})
    out.update({f"after.{k}": v for k, v in state(module).items() if "running" in k})
    out.update({f"grad.{k}": g for k, g in zip(names, d_params)})
    return out


def space_to_depth(x):
    """The papers' invertible 2x2 downsampling: y[:, (dh*2+dw)*C + c, i, j] = x[:, c, 2i+dh, 2j+dw]."""
    n, c, h, w = x.shape
    return x.view(n, c, h // 2, 2, w // 2, 2).permute(0, 3, 5, 1, 2, 4).reshape(n, 4 * c, h // 2, w // 2)


# ---------------------------------------------------------------------------------------------------------
# Convolutions: y = conv2d(x, weight, bias, stride, padding k // 2), x [N, Cin, H, W], weight [Cout, Cin, K, K].


def conv_case(name, n, cin, h, w, cout, k, stride):
    pad = k // 2

    @case(name, f"y = conv2d(x, weight, bias, stride {stride}, padding {pad}); d_* = gradients of sum(y * d_y)")
    def make():
        x = torch.randn(n, cin, h, w, requires_grad=True)
        weight = torch.randn(cout, cin, k, k, requires_grad=True)
        bias = torch.randn(cout, requires_grad=True)
        y = F.conv2d(x, weight, bias, stride=stride, padding=pad)
        d_y, (d_x, d_weight, d_bias) = gradients(y, (x, weight, bias))
        return dict(x=x, weight=weight, bias=bias, y=y, d_y=d_y, d_x=d_x, d_weight=d_weight, d_bias=d_bias)


conv_case("conv3x3_small", 2, 3, 7, 9, 5, 3, 1)
conv_case("conv3x3_wide", 4, 16, 8, 8, 32, 3, 1)
conv_case("conv1x1", 2, 8, 5, 5, 4, 1, 1)
conv_case("conv3x3_ci1", 3, 1, 6, 6, 4, 3, 1)
# Stride 2, odd and even sizes (PyTorch floors: OH = (H + 2*pad - K) // 2 + 1).
conv_case("conv3x3_s2", 2, 3, 9, 8, 4, 3, 2)  # a ResNet stage's first 3x3
conv_case("conv1x1_s2", 2, 6, 7, 6, 5, 1, 2)  # a projection shortcut
conv_case("conv7x7_s2", 2, 3, 12, 11, 4, 7, 2)  # the ImageNet stem


# ---------------------------------------------------------------------------------------------------------
# Pooling, space-to-depth, global average.


@case("space_to_depth", "y[:, (dh*2+dw)*C + c, i, j] = x[:, c, 2i+dh, 2j+dw]")
def _():
    x = torch.randn(2, 3, 6, 4, requires_grad=True)
    y = space_to_depth(x)
    d_y, (d_x,) = gradients(y, (x,))
    return dict(x=x, y=y, d_y=d_y, d_x=d_x)


def maxpool_case(name, shape, k, stride, pad, ties, doc=None):
    doc = doc or (
        f"y = max_pool2d(x, kernel {k}, stride {stride}, padding {pad}), floor mode; the padding is -inf (never "
        "the max); d_x = d_y at each window's first maximum in raster order"
        + (", x in {-1.5, -1, ..., 1.5} so that windows tie" if ties else "")
    )

    @case(name, doc)
    def make():
        if ties:
            x = (torch.randint(-3, 4, shape) * 0.5).requires_grad_(True)
        else:
            x = torch.randn(*shape, requires_grad=True)
        y = F.max_pool2d(x, k, stride, pad)
        d_y, (d_x,) = gradients(y, (x,))
        return dict(x=x, y=y, d_y=d_y, d_x=d_x)


maxpool_case("maxpool2x2", (2, 3, 6, 8), 2, 2, 0, ties=False, doc="y = max_pool2d(x, 2)")
maxpool_case("maxpool2x2_ties", (2, 3, 7, 9), 2, 2, 0, ties=True)
maxpool_case("maxpool3x3_s2_p1", (2, 3, 9, 10), 3, 2, 1, ties=False)  # the ImageNet stem's pool
maxpool_case("maxpool3x3_s2_p1_ties", (2, 4, 8, 7), 3, 2, 1, ties=True)


def avgpool_case(name, shape, k):
    @case(name, f"y = avg_pool2d(x, kernel=stride={k})")
    def make():
        x = torch.randn(*shape, requires_grad=True)
        y = F.avg_pool2d(x, k)
        d_y, (d_x,) = gradients(y, (x,))
        return dict(x=x, y=y, d_y=d_y, d_x=d_x)


avgpool_case("avgpool_to2x2", (2, 3, 8, 8), 4)
avgpool_case("avgpool_k4_16", (2, 5, 16, 16), 4)


@case("global_avgpool", "y[n, c] = mean of x[n, c, :, :] (adaptive_avg_pool2d(x, 1) flattened); y is [N, C]")
def _():
    x = torch.randn(3, 5, 4, 6, requires_grad=True)
    y = F.adaptive_avg_pool2d(x, 1).flatten(1)
    d_y, (d_x,) = gradients(y, (x,))
    return dict(x=x, y=y, d_y=d_y, d_x=d_x)


# ---------------------------------------------------------------------------------------------------------
# Batchnorm, ReLU, residual add, linear, loss, optimizer.


def batchnorm_case(name, shape):
    @case(
        name,
        "training mode: y = (x - mean_B) / sqrt(var_B + 1e-5) * gamma + beta with biased var_B; running_mean/var "
        "updated with momentum 0.1 (running_var uses the unbiased batch variance); eval mode uses running stats",
    )
    def make():
        bn = nn.BatchNorm2d(shape[1]) if len(shape) == 4 else nn.BatchNorm1d(shape[1])
        randomise_batchnorm(bn)
        running_mean_before, running_var_before = bn.running_mean.clone(), bn.running_var.clone()
        x = (torch.randn(*shape) * 2 + 1).requires_grad_(True)
        bn.train()
        y = bn(x)
        d_y, (d_x, d_gamma, d_beta) = gradients(y, (x, bn.weight, bn.bias))
        bn.eval()
        x_eval = torch.randn(*shape)
        y_eval = bn(x_eval)
        return dict(
            x=x,
            gamma=bn.weight,
            beta=bn.bias,
            running_mean_before=running_mean_before,
            running_var_before=running_var_before,
            y=y,
            running_mean_after=bn.running_mean,
            running_var_after=bn.running_var,
            d_y=d_y,
            d_x=d_x,
            d_gamma=d_gamma,
            d_beta=d_beta,
            x_eval=x_eval,
            y_eval=y_eval,
        )


batchnorm_case("batchnorm2d", (4, 3, 5, 5))
batchnorm_case("batchnorm1d", (8, 6))


@case("relu", "y = max(x, 0); d_x = d_y where x > 0")
def _():
    x = torch.randn(3, 4, 5, requires_grad=True)
    y = F.relu(x)
    d_y, (d_x,) = gradients(y, (x,))
    return dict(x=x, y=y, d_y=d_y, d_x=d_x)


@case("residual_add", "y = a + b (a ResNet block's shortcut); d_a = d_b = d_y")
def _():
    a = torch.randn(2, 3, 4, 5, requires_grad=True)
    b = torch.randn(2, 3, 4, 5, requires_grad=True)
    y = a + b
    d_y, (d_a, d_b) = gradients(y, (a, b))
    return dict(a=a, b=b, y=y, d_y=d_y, d_a=d_a, d_b=d_b)


@case(
    "batchnorm_add_relu",
    "y = relu(batchnorm(x) + r), batchnorm in training mode as in `batchnorm2d` (running statistics updated "
    "the same way); d_* = gradients of sum(y * d_y); eval mode: y_eval = relu(batchnorm_eval(x_eval) + r_eval) "
    "with the updated running statistics",
)
def _():
    shape = (4, 3, 5, 5)
    bn = nn.BatchNorm2d(shape[1])
    randomise_batchnorm(bn)
    running_mean_before, running_var_before = bn.running_mean.clone(), bn.running_var.clone()
    x = (torch.randn(*shape) * 2 + 1).requires_grad_(True)
    r = torch.randn(*shape, requires_grad=True)
    bn.train()
    y = F.relu(bn(x) + r)
    d_y, (d_x, d_r, d_gamma, d_beta) = gradients(y, (x, r, bn.weight, bn.bias))
    bn.eval()
    x_eval, r_eval = torch.randn(*shape), torch.randn(*shape)
    y_eval = F.relu(bn(x_eval) + r_eval)
    return dict(
        x=x,
        r=r,
        gamma=bn.weight,
        beta=bn.bias,
        running_mean_before=running_mean_before,
        running_var_before=running_var_before,
        y=y,
        running_mean_after=bn.running_mean,
        running_var_after=bn.running_var,
        d_y=d_y,
        d_x=d_x,
        d_r=d_r,
        d_gamma=d_gamma,
        d_beta=d_beta,
        x_eval=x_eval,
        r_eval=r_eval,
        y_eval=y_eval,
    )


@case("linear", "y = x @ weight.T + bias (weight is [out, in])")
def _():
    x = torch.randn(4, 12, requires_grad=True)
    weight = torch.randn(10, 12, requires_grad=True)
    bias = torch.randn(10, requires_grad=True)
    y = F.linear(x, weight, bias)
    d_y, (d_x, d_weight, d_bias) = gradients(y, (x, weight, bias))
    return dict(x=x, weight=weight, bias=bias, y=y, d_y=d_y, d_x=d_x, d_weight=d_weight, d_bias=d_bias)


@case(
    "cross_entropy",
    "loss = mean_i(-log softmax(logits_i)[label_i]); d_logits = d loss / d logits; labels stored as float",
)
def _():
    logits = (torch.randn(8, 10) * 3).requires_grad_(True)
    labels = torch.randint(0, 10, (8,))
    loss = F.cross_entropy(logits, labels)
    (d_logits,) = torch.autograd.grad(loss, (logits,))
    correct = (logits.argmax(1) == labels).sum()
    return dict(logits=logits, labels=labels, loss=loss.reshape(1), d_logits=d_logits, correct=correct.reshape(1))


@case(
    "sgd",
    "PyTorch SGD(lr=0.1, momentum=0.9, weight_decay=5e-4): d = grad + wd*w; buf = d on the first step, "
    "else buf = 0.9*buf + d; w -= lr*buf",
)
def _():
    w_before = torch.randn(7)
    w = w_before.clone().requires_grad_(True)
    opt = torch.optim.SGD([w], lr=0.1, momentum=0.9, weight_decay=5e-4)
    out = {"w_before": w_before}
    for step in range(3):
        w.grad = torch.randn(7)
        out[f"grad_{step}"] = w.grad.clone()
        opt.step()
        out[f"w_after_{step}"] = w.detach().clone()
    return out


# ---------------------------------------------------------------------------------------------------------
# Whole blocks.


@case(
    "greedy_step",
    "frozen stage 0 (conv 3->4, BN eval, ReLU) -> space_to_depth -> stage 1 (conv 16->8, BN, ReLU, training) -> "
    "head (2 x [conv3x3 no bias, BN, ReLU] width 6, avg to 2x2, BN, linear 24->10) -> cross-entropy; one "
    "SGD(0.1, 0.9, 5e-4) step on stage 1 + head; names follow PyTorch state_dict keys; 'num_batches_tracked' dropped",
)
def _():
    # Paper 1's k = 3 auxiliary problem: stage j trains on the frozen stages' output, through its head.
    frozen = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU()).eval()
    with torch.no_grad():
        frozen[1].running_mean.copy_(torch.randn(4) * 0.1)
        frozen[1].running_var.copy_(torch.rand(4) + 0.5)
    stage = nn.Sequential(nn.Conv2d(16, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU())
    head = nn.Sequential(
        nn.Conv2d(8, 6, 3, padding=1, bias=False),
        nn.BatchNorm2d(6),
        nn.ReLU(),
        nn.Conv2d(6, 6, 3, padding=1, bias=False),
        nn.BatchNorm2d(6),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(2),
        nn.BatchNorm2d(6),
        nn.Flatten(),
        nn.Linear(24, 10),
    )
    x = torch.randn(4, 3, 8, 8)
    labels = torch.randint(0, 10, (4,))
    parts = {"frozen": frozen, "stage": stage, "head": head}
    before = {f"{p}.{k}": v for p, m in parts.items() for k, v in state(m).items()}
    opt = torch.optim.SGD([*stage.parameters(), *head.parameters()], lr=0.1, momentum=0.9, weight_decay=5e-4)
    with torch.no_grad():
        h = space_to_depth(frozen(x))
    loss = F.cross_entropy(head(stage(h)), labels)
    opt.zero_grad()
    loss.backward()
    opt.step()
    after = {f"{p}.{k}": v for p, m in parts.items() if p != "frozen" for k, v in state(m).items()}
    out = {"x": x, "labels": labels, "loss": loss.reshape(1)}
    out.update({f"before.{k}": v for k, v in before.items()})
    out.update({f"after.{k}": v for k, v in after.items()})
    return out


def batchnorms(module):
    return [m for m in module.modules() if isinstance(m, nn.BatchNorm2d)]


def projection(cin, cout, stride):
    """torchvision's ResNet shortcut where the shape changes: 1x1 conv with the stride, then batchnorm."""
    return nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))


def block_case(name, doc, block, x_shape):
    @case(
        name,
        f"{doc}; torchvision {torchvision.__version__} block, batchnorm in training mode; x, y, d_y, d_x; "
        "before.NAME = every parameter and running statistic, after.NAME = the running statistics after the "
        "forward, grad.NAME = the gradient of sum(y * d_y), NAME as torchvision's state_dict",
    )
    def make():
        module = block()
        for bn in batchnorms(module):
            randomise_batchnorm(bn)
        return module_case(module, torch.randn(*x_shape))


block_case(
    "resnet_basic",
    "BasicBlock(4, 4): relu(bn2(conv2(relu(bn1(conv1(x))))) + x), 3x3 convs without bias, identity shortcut",
    lambda: BasicBlock(4, 4),
    (2, 4, 6, 6),
)
block_case(
    "resnet_basic_down",
    "BasicBlock(4, 8, stride 2) with the projection shortcut downsample = [1x1 conv stride 2, batchnorm]",
    lambda: BasicBlock(4, 8, stride=2, downsample=projection(4, 8, 2)),
    (2, 4, 7, 7),
)
block_case(
    "resnet_bottleneck",
    "Bottleneck(8, 4, stride 2): 1x1 8->4, 3x3 4->4 stride 2, 1x1 4->16 (expansion 4), each with batchnorm, "
    "ReLU after the first two and after the add; projection shortcut downsample = [1x1 conv 8->16 stride 2, batchnorm]",
    lambda: Bottleneck(8, 4, stride=2, downsample=projection(8, 16, 2)),
    (2, 8, 6, 6),
)


class SmallResNet(nn.Module):
    """torchvision's ResNet at small widths, with its module names (conv1, bn1, relu, maxpool, layer1..N,
    avgpool, fc), blocks and initialisation, the resolution halving at the blocks listed in
    `downsample_at` (counted over the whole net), projection shortcuts where the shape changes. With
    stem="cifar" it is He et al.'s CIFAR ResNet (3x3 stem, no max-pool) with projections; with
    stem="imagenet", torchvision's stem (7x7/2 conv, 3x3/2 max-pool)."""

    def __init__(self, block, stem, stem_width, widths, blocks, downsample_at, classes=10):
        super().__init__()
        if stem == "imagenet":
            self.conv1 = nn.Conv2d(3, stem_width, 7, 2, 3, bias=False)
            self.maxpool = nn.MaxPool2d(3, 2, 1)
        else:
            self.conv1 = nn.Conv2d(3, stem_width, 3, 1, 1, bias=False)
            self.maxpool = nn.Identity()
        self.bn1 = nn.BatchNorm2d(stem_width)
        self.relu = nn.ReLU(inplace=True)
        cin, index, self.groups = stem_width, 0, len(widths)
        for g, (planes, count) in enumerate(zip(widths, blocks)):
            layers = []
            for _ in range(count):
                stride = 2 if index in downsample_at else 1
                cout = planes * block.expansion
                shortcut = projection(cin, cout, stride) if stride != 1 or cin != cout else None
                layers.append(block(cin, planes, stride, shortcut))
                cin, index = cout, index + 1
            setattr(self, f"layer{g + 1}", nn.Sequential(*layers))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for g in range(self.groups):
            x = getattr(self, f"layer{g + 1}")(x)
        return self.fc(torch.flatten(self.avgpool(x), 1))


def net_case(name, doc, make_net, x_shape):
    @case(
        name,
        f"{doc}; evaluation mode with random running statistics: y = logits of x; state.NAME = every parameter "
        "and running statistic under torchvision's state_dict names (num_batches_tracked dropped)",
    )
    def make():
        net = make_net()
        for bn in batchnorms(net):
            randomise_batchnorm(bn)
        net.eval()
        x = torch.randn(*x_shape)
        out = {"x": x, "y": net(x)}
        out.update({f"state.{k}": v for k, v in state(net).items()})
        return out


net_case(
    "resnet_cifar_net",
    "He et al.'s CIFAR ResNet with projection shortcuts, at half their widths (8/16/32, to keep this file "
    "small), one basic block per group (SmallResNet(BasicBlock, 'cifar', 8, [8, 16, 32], [1, 1, 1], "
    "downsample_at=[1, 2]))",
    lambda: SmallResNet(BasicBlock, "cifar", 8, [8, 16, 32], [1, 1, 1], [1, 2]),
    (2, 3, 16, 16),
)
net_case(
    "resnet_imagenet_net",
    "torchvision's ResNet stem and basic blocks at small widths (SmallResNet(BasicBlock, 'imagenet', 8, [8, 16], "
    "[1, 2], downsample_at=[1]))",
    lambda: SmallResNet(BasicBlock, "imagenet", 8, [8, 16], [1, 2], [1]),
    (2, 3, 32, 29),
)
net_case(
    "resnet_bottleneck_net",
    "torchvision's ResNet stem and bottleneck blocks at small widths (SmallResNet(Bottleneck, 'imagenet', 8, "
    "[4, 8], [1, 1], downsample_at=[1]))",
    lambda: SmallResNet(Bottleneck, "imagenet", 8, [4, 8], [1, 1], [1]),
    (2, 3, 30, 32),
)


def torchvision_models():
    """{model: {state_dict name: shape}} of torchvision's ImageNet ResNets and VGGs with batchnorm (random
    weights: only names and shapes are kept), num_batches_tracked dropped: what a layerwise checkpoint of
    the matching preset must hold for load_state_dict(strict=True)."""
    models = {}
    for name in ["resnet18", "resnet34", "resnet50", "resnet152", "vgg11_bn", "vgg13_bn", "vgg19_bn"]:
        net = getattr(torchvision.models, name)(num_classes=10)
        models[name] = {k: list(v.shape) for k, v in state(net).items()}
    return models


def dgl_head(c, size, n_lin, mlp_layers, classes=10):
    """The DGL MLP-SR auxiliary head (eugenium/DGL learning_curves/models.py `auxillary_classifier2`) as one
    nn.Sequential in the order it computes, i.e. layerwise's layer list: adaptive average to ceil(size/4),
    n_lin x [1x1 conv without bias, BN2d, ReLU], adaptive average to 2x2, flatten (c, h, w), mlp_layers x
    [Linear 4C->4C, BN1d, ReLU], Linear(4C, classes). The reference's hidden Linear layers have a bias; here
    they have none, as in layerwise: BN1d follows each one, so in training mode the bias cancels in the batch
    mean and its gradient is exactly zero. (The reference's unused `self.bn` is not built.)"""
    layers = [nn.AdaptiveAvgPool2d(math.ceil(size / 4))]
    for _ in range(n_lin):
        layers += [nn.Conv2d(c, c, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU()]
    layers += [nn.AdaptiveAvgPool2d(2), nn.Flatten()]
    for _ in range(mlp_layers):
        layers += [nn.Linear(4 * c, 4 * c, bias=False), nn.BatchNorm1d(4 * c), nn.ReLU()]
    layers += [nn.Linear(4 * c, classes)]
    return nn.Sequential(*layers)


def dgl_head_case(name, n, c, size, n_lin, mlp_layers):
    @case(
        name,
        f"DGL MLP-SR auxiliary head (eugenium/DGL learning_curves/models.py) with n_lin={n_lin}, "
        f"mlp_layers={mlp_layers} on {c} channels at {size}x{size}, as one nn.Sequential: adaptive average to "
        f"ceil(H/4), n_lin x [1x1 conv no bias, BN2d, ReLU], adaptive average to 2x2, flatten (c, h, w), "
        f"mlp_layers x [Linear 4C->4C, BN1d, ReLU], Linear 4C->10; hidden Linear layers without bias (the "
        "reference has one; BN1d follows, so it has zero gradient and no effect in training mode); batchnorm in "
        "training mode; y = logits; x, y, d_y, d_x, before.NAME, after.NAME, grad.NAME as in the resnet cases, "
        "NAME = the nn.Sequential's (index.weight, ...)",
    )
    def make():
        module = dgl_head(c, size, n_lin, mlp_layers)
        for bn in (m for m in module.modules() if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d))):
            randomise_batchnorm(bn)
        return module_case(module, torch.randn(n, c, size, size))


dgl_head_case("dgl_head", 6, 4, 14, 3, 3)  # every head but the last: 14 -> 4 -> 2 (overlapping windows)
dgl_head_case("dgl_head_last", 6, 8, 7, 0, 2)  # the last head: 7 -> 2 (overlapping windows) -> 2


# ---------------------------------------------------------------------------------------------------------
# The input pipeline: torchvision's RandomCrop(size, padding=4) (black padding, before normalising), then
# RandomHorizontalFlip, ToTensor, Normalize, with the crop offsets and flips given instead of drawn.


def crop_case(name, size, channels, mean, std, draws):
    """One image per (oy, ox, flip) of `draws`, each size x size with `channels` channels."""
    shape = (len(draws), size, size, channels)

    @case(
        name,
        f"torchvision {torchvision.__version__} on PIL images: pad(4, fill=0) (black), crop {size}x{size} at "
        "(oy, ox), hflip when flip = 1, ToTensor, Normalize(mean, std): what RandomCrop(padding=4) and "
        "RandomHorizontalFlip do after drawing; images are bytes [N, H, W, C] stored as float; mean/std are "
        "rounded to f32 as layerwise takes them; y is [N, C, H, W]",
    )
    def make():
        images = torch.randint(0, 256, shape, dtype=torch.uint8)
        mean32 = torch.tensor(mean, dtype=torch.float32).double()
        std32 = torch.tensor(std, dtype=torch.float32).double()
        ys = []
        for image, (oy, ox, flip) in zip(images, draws):
            pil = Image.fromarray(image.numpy().squeeze(-1) if channels == 1 else image.numpy())
            crop = TF.crop(TF.pad(pil, 4, fill=0), oy, ox, size, size)
            if flip:
                crop = TF.hflip(crop)
            # ToTensor divides by 255 in the default dtype, float64 here.
            ys.append(TF.normalize(TF.to_tensor(crop), mean32.tolist(), std32.tolist()))
        oy, ox, flip = (torch.tensor(v) for v in zip(*draws))
        return dict(images=images, oy=oy, ox=ox, flip=flip, mean=mean32, std=std32, y=torch.stack(ys))


# Corners, edges, the centre and the flips of the 9 x 9 offsets.
CROP_DRAWS = [(0, 0, 0), (8, 8, 1), (0, 8, 1), (8, 0, 0), (4, 4, 1), (1, 7, 0)]
crop_case("crop_black_cifar", 32, 3, [0.4914, 0.4822, 0.4465], [0.2023, 0.1994, 0.2010], CROP_DRAWS)
crop_case("crop_black_fmnist", 28, 1, [0.2860], [0.3530], CROP_DRAWS[:4])


# ---------------------------------------------------------------------------------------------------------


def write_safetensors(path, tensors, metadata):
    """The safetensors format: u64 little-endian header length, the JSON header (padded with spaces to 8
    bytes), then the tensors' little-endian bytes, in name order."""
    header, blobs, offset = {"__metadata__": metadata}, [], 0
    for name in sorted(tensors):
        data = tensors[name].numpy().astype("<f8").tobytes()
        header[name] = {"dtype": "F64", "shape": list(tensors[name].shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * (-len(head) % 8)
    with open(path + ".tmp", "wb") as f:
        f.write(struct.pack("<Q", len(head)) + head + b"".join(blobs))
    os.replace(path + ".tmp", path)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures"
    os.makedirs(out, exist_ok=True)
    source = f"PyTorch {torch.__version__}, torchvision {torchvision.__version__}, float64, CPU"
    meta = {"source": source, "generator": "scripts/torch_vectors.py"}
    write_safetensors(os.path.join(out, "torch_vectors.safetensors"), TENSORS, meta)
    listing = {"source": source, "cases": CASES, "tensors": {k: list(v.shape) for k, v in TENSORS.items()}}
    with open(os.path.join(out, "torch_vectors.json"), "w") as f:
        json.dump(listing, f, indent=1)
        f.write("\n")
    with open(os.path.join(out, "torchvision_models.json"), "w") as f:
        json.dump({"source": source, "models": torchvision_models()}, f, indent=1)
        f.write("\n")
    print(f"wrote {len(TENSORS)} tensors in {len(CASES)} cases to {out} ({source})")


if __name__ == "__main__":
    main()
