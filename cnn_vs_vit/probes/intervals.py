"""Means over images with a 95% interval, accumulated batch by batch without keeping the values.

Every probe figure is a mean over images. Its interval is the normal approximation
mean ± 1.96 · sd / √n (sd with n − 1 degrees of freedom): fine for the hundreds of images a
probe uses, and an interval of width 0 when every image gives the same value.
"""

import math

import torch

Z_95 = 1.96  # two-sided 95% quantile of the standard normal


class RunningMean:
    """Mean and 95% interval of a vector of `size` quantities, each observed once per image.

    `add(values)` takes a (size, B) tensor for a batch of B images; non-finite values (e.g. a
    comparison region that is empty) are left out of that quantity's count.
    """

    def __init__(self, size: int):
        self.count = torch.zeros(size, dtype=torch.float64)
        self.total = torch.zeros(size, dtype=torch.float64)
        self.total_squares = torch.zeros(size, dtype=torch.float64)

    def add(self, values: torch.Tensor) -> None:
        values = values.detach().to("cpu", torch.float64)  # (size, B)
        finite = torch.isfinite(values)
        values = torch.where(finite, values, 0.0)
        self.count += finite.sum(1)
        self.total += values.sum(1)
        self.total_squares += values.square().sum(1)

    def mean(self) -> list[float]:
        return [t / n if n else math.nan for t, n in zip(self.total.tolist(), self.count.tolist())]

    def interval(self) -> list[tuple[float, float]]:
        """(low, high) per quantity: mean ± 1.96·sd/√n over images; (mean, mean) for a single image."""
        bounds = []
        for n, t, t2 in zip(self.count.tolist(), self.total.tolist(), self.total_squares.tolist()):
            if not n:
                bounds.append((math.nan, math.nan))
                continue
            mean = t / n
            variance = max(t2 - n * mean * mean, 0.0) / (n - 1) if n > 1 else 0.0
            half = Z_95 * math.sqrt(variance / n)
            bounds.append((mean - half, mean + half))
        return bounds

    def n_images(self) -> list[int]:
        return [int(n) for n in self.count.tolist()]
