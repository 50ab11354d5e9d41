"""The shared epoch loop: best-epoch restore and patience-based early stopping (issue 13)."""
import numpy as np
import pytest
import torch

from recall_core.training import fit


def _run(valid_curve, epochs, patience):
    """Fit a one-parameter model whose validation figure follows ``valid_curve``; the parameter
    records the epoch it was at, so the restored weights say which epoch was kept."""
    model = torch.nn.Linear(1, 1, bias=False)
    epoch_seen = []

    def loss_of_batch(idx):
        return (model.weight ** 2).sum() * 0.0 + model.weight.sum() * 0.0  # no-op gradient

    def validate():
        epoch = len(epoch_seen)
        epoch_seen.append(epoch)
        with torch.no_grad():
            model.weight.fill_(float(epoch))  # the weights "are" the epoch
        return valid_curve[epoch]

    log = fit(model, loss_of_batch, 8, epochs=epochs, batch_size=4, lr=0.1, rng=np.random.default_rng(0),
              validate=validate, patience=patience)
    return log, float(model.weight.item()), len(epoch_seen)


def test_without_patience_every_epoch_runs_and_the_best_is_restored():
    log, kept, ran = _run([0.1, 0.3, 0.2, 0.25, 0.1, 0.05], epochs=6, patience=0)
    assert ran == 6 and not log.stopped_early
    assert log.best_epoch == 1 and kept == 1.0


def test_patience_stops_after_that_many_epochs_without_a_better_figure():
    log, kept, ran = _run([0.1, 0.3, 0.2, 0.25, 0.4, 0.05], epochs=6, patience=2)
    assert ran == 4 and log.stopped_early  # epochs 2 and 3 did not beat epoch 1: stop, never see 0.4
    assert log.best_epoch == 1 and kept == 1.0 and len(log.valid) == 4 and len(log.seconds) == 4


def test_patience_waits_for_a_late_improvement_within_its_window():
    log, kept, ran = _run([0.1, 0.3, 0.2, 0.35, 0.3, 0.3, 0.3], epochs=7, patience=2)
    assert log.best_epoch == 3 and kept == 3.0 and ran == 6 and log.stopped_early


def test_a_run_that_reaches_its_last_epoch_is_not_called_early():
    log, _, ran = _run([0.3, 0.2, 0.1], epochs=3, patience=2)
    assert ran == 3 and not log.stopped_early and log.as_dict()["stopped_early"] is False


def test_negative_patience_is_refused():
    with pytest.raises(ValueError, match="patience"):
        _run([0.1], epochs=1, patience=-1)


def test_cosine_schedule_decays_from_lr_to_zero_batch_by_batch(monkeypatch):
    from recall_core.training import cosine_lr

    assert cosine_lr(0.1, 0, 10) == pytest.approx(0.1)
    assert cosine_lr(0.1, 5, 10) == pytest.approx(0.05)
    assert cosine_lr(0.1, 10, 10) == pytest.approx(0.0, abs=1e-12)
    rates = [cosine_lr(1.0, s, 7) for s in range(7)]
    assert all(a > b for a, b in zip(rates, rates[1:]))
    # inside fit: the optimiser sees every batch's rate in turn (2 epochs x 2 batches of 4 samples)
    model = torch.nn.Linear(1, 1, bias=False)
    optimiser_lr = []

    def loss_of_batch(idx):
        return model.weight.sum() * 0.0

    original = torch.optim.Adam.step

    def spy(self, *a, **k):
        optimiser_lr.append(self.param_groups[0]["lr"])
        return original(self, *a, **k)

    monkeypatch.setattr(torch.optim.Adam, "step", spy)
    fit(model, loss_of_batch, 8, epochs=2, batch_size=4, lr=0.2, rng=np.random.default_rng(0), schedule="cosine")
    assert optimiser_lr == pytest.approx([cosine_lr(0.2, s, 4) for s in range(4)])


def test_unknown_schedule_is_refused():
    with pytest.raises(ValueError, match="schedule"):
        fit(torch.nn.Linear(1, 1), lambda idx: torch.zeros((), requires_grad=True), 4, epochs=1, batch_size=4,
            lr=0.1, rng=np.random.default_rng(0), schedule="warm")


def _batches_seen(monkeypatch, n, epochs, batch_size, epoch_samples, schedule="constant"):
    """The index batches ``fit`` hands to the loss, epoch by epoch, and the learning rates the optimiser used."""
    model = torch.nn.Linear(1, 1, bias=False)
    seen, rates = [], []

    def loss_of_batch(idx):
        seen[-1].append(np.array(idx))
        return model.weight.sum() * 0.0

    def validate():
        seen.append([])
        rates.append(None)
        return 0.0

    seen.append([])
    original = torch.optim.Adam.step

    def spy(self, *a, **k):
        rates.append(self.param_groups[0]["lr"])
        return original(self, *a, **k)

    monkeypatch.setattr(torch.optim.Adam, "step", spy)
    fit(model, loss_of_batch, n, epochs=epochs, batch_size=batch_size, lr=0.2, rng=np.random.default_rng(3),
        validate=validate, epoch_samples=epoch_samples, schedule=schedule)
    return [e for e in seen if e], [r for r in rates if r is not None]


def test_an_epoch_budget_at_or_above_the_sample_count_changes_nothing(monkeypatch):
    whole, _ = _batches_seen(monkeypatch, 10, 3, 4, 0)
    for budget in (10, 11, 10_000):
        capped, _ = _batches_seen(monkeypatch, 10, 3, 4, budget)
        assert len(capped) == 3
        assert all(np.array_equal(a, b) for ea, eb in zip(whole, capped) for a, b in zip(ea, eb))


def test_an_epoch_budget_trains_on_a_fresh_random_subset_each_epoch_then_validates(monkeypatch):
    epochs, _ = _batches_seen(monkeypatch, 100, 3, 8, 20)
    assert len(epochs) == 3  # validated after each budgeted epoch
    subsets = [np.concatenate(e) for e in epochs]
    for subset in subsets:
        assert len(subset) == 20 and len(set(subset.tolist())) == 20 and subset.max() < 100
    assert [len(b) for b in epochs[0]] == [8, 8, 4]
    assert len(set(map(tuple, (sorted(s) for s in subsets)))) == 3  # not the same 20 samples every epoch


def test_the_cosine_schedule_spans_the_budgeted_epochs(monkeypatch):
    from recall_core.training import cosine_lr

    _, rates = _batches_seen(monkeypatch, 100, 2, 8, 20, schedule="cosine")
    assert rates == pytest.approx([cosine_lr(0.2, s, 6) for s in range(6)])  # 2 epochs x 3 batches of the budget


def test_a_negative_epoch_budget_is_refused():
    with pytest.raises(ValueError, match="epoch_samples"):
        fit(torch.nn.Linear(1, 1), lambda idx: torch.zeros((), requires_grad=True), 4, epochs=1, batch_size=4,
            lr=0.1, rng=np.random.default_rng(0), epoch_samples=-1)
