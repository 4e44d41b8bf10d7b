"""Making a randomly initialised model look trained, and choosing the inputs of its fixture.

- `randomize_batchnorm`: BatchNorm affine parameters away from (1, 0), as training leaves them.
- `calibrate_batchnorm`: running statistics measured on a batch of synthetic images pushed through the
  method's own (quantized) forward, so that eval-mode activations have realistic scales layer by layer.
- `pick_inputs`: the first fixture inputs, in seed order, whose logits have a top-1/top-2 margin of at
  least MIN_MARGIN (common.top2_margin) and that a method's own check accepts (e.g. no near-tie before a
  sign()); writes them (common.write_input) and returns their logits.
"""
import numpy as np
import torch
import torch.nn as nn

import common

MIN_MARGIN = 1e-2
CALIBRATION_SEED = 10_000   # calibration images use seeds 10000.., fixture inputs seeds 0..


def normalize(img: np.ndarray, mean, std) -> torch.Tensor:
    """uint8 HWC -> float32 NCHW, pixel/255 then (x - mean)/std, the same operations as common.load_input."""
    x = torch.from_numpy(img.copy()).permute(2, 0, 1).float() / 255.0
    m = torch.tensor(mean, dtype=torch.float32).view(-1, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(-1, 1, 1)
    return ((x - m) / s).unsqueeze(0)


def calibration_batch(count: int, size: int, channels: int, mean, std) -> torch.Tensor:
    images = [common.synthetic_image(size, size, channels, CALIBRATION_SEED + i) for i in range(count)]
    return torch.cat([normalize(img, mean, std) for img in images])


def randomize_batchnorm(model: nn.Module, gen: torch.Generator) -> None:
    """gamma ~ U(0.6, 1.4), beta ~ N(0, 0.15^2) for every BatchNorm2d."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.weight.data = torch.rand(m.num_features, generator=gen) * 0.8 + 0.6
            m.bias.data = torch.randn(m.num_features, generator=gen) * 0.15


@torch.no_grad()
def calibrate_batchnorm(model: nn.Module, batch: torch.Tensor, batches_tracked: int) -> None:
    """Sets every BatchNorm2d's running mean/var to the statistics of `batch` as the model sees it in
    training mode (cumulative average over one forward pass), then records `batches_tracked` (the value
    a real run leaves: epochs x iterations per epoch) and leaves the model in eval mode."""
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None
    model.train()
    model(batch)
    for bn in bns:
        bn.momentum = 0.1
        bn.num_batches_tracked.fill_(batches_tracked)
    model.eval()


@torch.no_grad()
def pick_inputs(model: nn.Module, size: int, channels: int, mean, std, count: int,
                max_seed: int = 200, min_margin: float = MIN_MARGIN, accept=None) -> list:
    """[{"path", "logits"}] for the first `count` seeds whose logits pass the margin check (top-2 margin
    >= min_margin) and, when given, `accept(input tensor)`; the logits are recomputed from the written
    file, the path the Swift side takes."""
    model.eval()
    images = []
    for seed in range(max_seed):
        img = common.synthetic_image(size, size, channels, seed)
        x = normalize(img, mean, std)
        if common.top2_margin(model(x)) < min_margin or (accept is not None and not accept(x)):
            continue
        rel = common.write_input(size, size, channels, seed)
        logits = model(common.load_input(rel, mean, std))
        assert common.top2_margin(logits) >= min_margin
        images.append({"path": rel, "logits": common.f32_list(logits)})
        if len(images) == count:
            return images
    raise RuntimeError(f"only {len(images)} of {count} inputs reach a top-2 margin of {min_margin}")
