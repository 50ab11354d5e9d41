"""Shared training plumbing: seeds, devices, mini-batches, the epoch loop, progress."""
from __future__ import annotations

import copy
import random
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

import numpy as np
import torch

Progress = Callable[[float, str], None]  # (fraction done in [0, 1], message)


class DeviceError(RuntimeError):
    pass


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA when present; an explicit ``cuda`` without a GPU is refused clearly."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise DeviceError("--device cuda was asked for, but no CUDA GPU is visible; use --device cpu or auto.")
    if name not in ("cpu",) and not name.startswith("cuda"):
        raise DeviceError(f"Unknown device '{name}': use auto, cpu or cuda.")
    return torch.device(name)


def set_seed(seed: int) -> np.random.Generator:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    return np.random.default_rng(seed)


def sample_tensors(samples, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A :class:`~recall_core.data.Samples` set as (histories, users, targets) tensors on ``device``."""
    return tuple(torch.as_tensor(a, device=device) for a in (samples.histories, samples.users, samples.targets))


def minibatches(n: int, batch_size: int, rng: np.random.Generator, shuffle: bool = True,
                limit: int = 0) -> Iterable[np.ndarray]:
    """Mini-batches of one epoch over ``n`` samples; ``limit`` > 0 keeps the first ``limit`` of the shuffled
    order (a fresh random subset each epoch; the same batches as without it when ``limit >= n``)."""
    order = rng.permutation(n) if shuffle else np.arange(n)
    if 0 < limit < n:
        order = order[:limit]
    for start in range(0, len(order), batch_size):
        yield order[start:start + batch_size]


def trim_padding(histories: torch.Tensor, pad: int) -> torch.Tensor:
    """Drop the leading positions that are padding in every row of a left-padded [B, L] batch (one
    position is kept when every row is empty)."""
    real = (histories != pad).any(0)
    first = int(real.to(torch.int8).argmax()) if bool(real.any()) else histories.shape[1] - 1
    return histories[:, first:]


SCHEDULES = ("constant", "cosine")


def cosine_lr(lr: float, step: int, total_steps: int) -> float:
    """The learning rate of batch ``step`` (0-based) of ``total_steps`` under half-cosine decay from ``lr`` to 0."""
    return 0.5 * lr * (1.0 + float(np.cos(np.pi * step / max(total_steps, 1))))


@dataclass
class TrainLog:
    losses: list[float] = field(default_factory=list)
    valid: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    best_epoch: int = -1
    stopped_early: bool = False  # ``patience`` epochs passed without a better validation figure

    def as_dict(self) -> dict:
        return {"losses": self.losses, "valid": self.valid, "seconds_per_epoch": self.seconds,
                "best_epoch": self.best_epoch, "stopped_early": self.stopped_early,
                "train_seconds": float(sum(self.seconds))}


def fit(model: torch.nn.Module, loss_of_batch: Callable[[np.ndarray], torch.Tensor], n_samples: int, *,
        epochs: int, batch_size: int, lr: float, rng: np.random.Generator, weight_decay: float = 0.0,
        validate: Callable[[], float] | None = None, progress: Progress | None = None,
        label: str = "train", log: TrainLog | None = None, patience: int = 0,
        schedule: str = "constant", epoch_samples: int = 0) -> TrainLog:
    """Adam over shuffled mini-batches; keeps the weights of the best validation epoch.

    ``patience`` > 0 (with ``validate``): stop once that many epochs in a row have not beaten the best
    validation figure -- early stopping, so ``epochs`` is a ceiling and the validation users, never the
    test users, decide how many epochs a model gets (issue 13: fewer but better epochs).
    ``schedule``: "constant" (``lr`` throughout) or "cosine" (``lr`` decayed batch by batch along half a
    cosine to 0 at the end of the last epoch: Loshchilov & Hutter, ICLR'17, without restarts).
    ``epoch_samples`` > 0: an epoch is at most that many samples, a fresh random subset each time, and validation
    follows each -- a compute budget per epoch, so a catalogue with five times the samples validates five times as
    often instead of training five times as long between checks (issue 13 §4).  A smaller dataset's epochs are
    whole passes, exactly as without it."""
    if epoch_samples < 0:
        raise ValueError(f"epoch_samples must be >= 0, got {epoch_samples}")
    if patience < 0:
        raise ValueError(f"patience must be >= 0, got {patience}")
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
    log = log or TrainLog()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    best_value, best_state = -np.inf, None
    per_epoch = min(n_samples, epoch_samples) if epoch_samples else n_samples
    n_batches = max(1, -(-per_epoch // batch_size))
    total_steps = max(1, epochs * n_batches)
    for epoch in range(epochs):
        model.train()
        start, total = time.perf_counter(), 0.0
        for b, idx in enumerate(minibatches(n_samples, batch_size, rng, limit=epoch_samples)):
            if schedule == "cosine":
                for group in optimizer.param_groups:
                    group["lr"] = cosine_lr(lr, epoch * n_batches + b, total_steps)
            loss = loss_of_batch(idx)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += float(loss.detach())
            if progress and b % 20 == 0:
                progress((epoch + b / n_batches) / epochs, f"{label}: epoch {epoch + 1}/{epochs}")
        log.seconds.append(time.perf_counter() - start)
        log.losses.append(total / n_batches)
        if validate is not None:
            model.eval()
            with torch.no_grad():
                value = float(validate())
            log.valid.append(value)
            if value > best_value:
                best_value, best_state = value, copy.deepcopy(model.state_dict())
                log.best_epoch = epoch
            elif patience and epoch - log.best_epoch >= patience and epoch + 1 < epochs:
                log.stopped_early = True
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    elif epochs:
        log.best_epoch = epochs - 1
    model.eval()
    if progress:
        progress(1.0, f"{label}: done")
    return log
