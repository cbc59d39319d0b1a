"""The efficiency benchmark's machinery (benchmarks/efficiency.py): FLOPs counted to the known
answer, cycles cut where the training loop says, errors and early ends handed to the caller, and
the contract with the real training loops (a cycle of MedDiff is one update, of medGAN one
iteration of two critic updates and one generator update)."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # first, before opacus' own top-level ``benchmarks`` package

from benchmarks import efficiency as eff  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class _LinearFit:
    """A fit of ``updates`` SGD updates of one Linear(8 -> 4) on batches of 16 records whose input
    needs no gradient: forward 2*16*8*4 FLOPs, backward only the weight's product, as many again."""

    def __init__(self, updates: int = 6, fail_at: int | None = None) -> None:
        self.updates = updates
        self.fail_at = fail_at
        self.layer = nn.Linear(8, 4)
        self.opt = torch.optim.SGD(self.layer.parameters(), lr=0.1)

    def _report_progress(self, done: int, total: int, unit: str = "epoch") -> None:
        """Stands for Generator._report_progress, which the stepper shadows on the instance."""

    def fit(self) -> None:
        x = torch.randn(16, 8)
        for i in range(self.updates):
            if self.fail_at is not None and i == self.fail_at:
                raise ValueError(f"broken at update {i}")
            loss = self.layer(x).sum()
            self.opt.zero_grad()
            loss.backward()
            self.opt.step()
            self._report_progress(i + 1, self.updates, "update")
            self._report_progress(i + 1, self.updates, "epoch")  # another unit: no boundary


KNOWN_FLOPS = 2 * (2 * 16 * 8 * 4)


def test_cycles_follow_progress_reports_and_count_known_flops() -> None:
    fit = _LinearFit()
    st = eff.UpdateStepper(fit.fit, ("progress", "update"), fit, count=True).start()
    try:
        for _ in range(3):
            st.advance()
    finally:
        st.close()
    assert [c.updates for c in st.cycles] == [1, 1, 1]
    assert [c.flops for c in st.cycles] == [KNOWN_FLOPS] * 3
    assert all(c.seconds > 0 and c.wall > 0 for c in st.cycles)
    assert "_report_progress" not in fit.__dict__  # the instance is left as it was
    assert not any(t.name == "ehrbench-fit" and t.is_alive() for t in threading.enumerate())


def test_update_boundaries_cut_every_k_optimiser_steps() -> None:
    fit = _LinearFit(updates=9)
    st = eff.UpdateStepper(fit.fit, ("updates", 2), count=True).start()
    try:
        st.advance()
        st.advance()
    finally:
        st.close()
    assert [c.updates for c in st.cycles] == [2, 2]
    assert [c.flops for c in st.cycles] == [2 * KNOWN_FLOPS] * 2


def test_counting_agrees_with_flop_counter_mode() -> None:
    from torch.utils.flop_counter import FlopCounterMode

    net = nn.Sequential(nn.Linear(12, 32), nn.ReLU(), nn.Linear(32, 5))
    x = torch.randn(7, 12, requires_grad=True)
    with FlopCounterMode(display=False) as ref:
        net(x).pow(2).sum().backward()
    with eff.OpRecorder() as ours:
        net(x).pow(2).sum().backward()
    assert ours.total == ref.get_total_flops() > 0


def test_an_error_in_the_fit_reaches_the_caller() -> None:
    fit = _LinearFit(fail_at=2)
    st = eff.UpdateStepper(fit.fit, ("progress", "update"), fit).start()
    try:
        st.advance()
        with pytest.raises(ValueError, match="broken at update 2"):
            st.advance()
    finally:
        st.close()


def test_a_fit_that_ends_early_is_an_error() -> None:
    fit = _LinearFit(updates=2)
    st = eff.UpdateStepper(fit.fit, ("progress", "update"), fit).start()
    try:
        st.advance()
        with pytest.raises(RuntimeError, match="ended before"):
            st.advance()
    finally:
        st.close()


def test_replay_keeps_operand_layouts_and_times_each_operation() -> None:
    a = torch.randn(64, 32)
    b = torch.randn(16, 32).t()  # a transposed operand, as backward passes produce
    with eff.OpRecorder() as rec:
        torch.mm(a, b)
    (sig,) = rec.calls
    func, args, _ = sig
    assert args[1].stride == (1, 32) and args[1].make(torch.Generator()).stride() == (1, 32)
    assert rec.flops[sig] == 2 * 64 * 32 * 16
    times = eff.replay_seconds(rec.calls, min_time=0.001)
    assert times[sig] > 0


def test_summary_is_the_ratio_of_alone_time_to_update_time() -> None:
    counted = [eff.Cycle(0.0, 0.0, 3, flops=3_000_000) for _ in range(3)]
    timed = [eff.Cycle(s, s, 3) for s in (0.004, 0.002, 0.003)]
    row = eff.summarise("x", counted, timed, [0.0015] * 3, [3, 3, 3])
    assert row["gflop_per_update"] == pytest.approx(1e-3)
    assert row["ms_per_update"] == pytest.approx(1.0)  # median cycle 3 ms over 3 updates
    assert row["efficiency"] == pytest.approx(0.5)  # 1.5 ms alone of 3 ms
    assert row["matmul_gflops"] == pytest.approx(2.0)
    assert row["note"] == ""
    slow = eff.summarise("dpgan", counted, [eff.Cycle(0.03, 0.03, 3)] * 3, [0.0015] * 3, [3, 3, 3])
    assert slow["efficiency"] == pytest.approx(0.05) and "per record" in slow["note"]


@pytest.mark.parametrize(("name", "updates"), [("meddiff", 1), ("medgan", 3)])
def test_cycles_of_the_real_training_loops(toy, name: str, updates: int) -> None:
    """The loops report progress where the benchmark cuts them: MedDiff after each update,
    the GAN loop after each iteration (medGAN: d_steps=2 critic updates and one generator's)."""
    from generators import registry

    gen = registry.make(name, random_state=0, preset="quick")
    if name == "medgan":
        gen.ae_epochs = 1
    data = toy if gen.supports_conditioning else toy.with_label_as_column()
    st = eff.UpdateStepper(lambda: gen.fit(data), eff.BOUNDARY[name], gen, count=True).start()
    try:
        st.advance()
        st.advance()
    finally:
        st.close()
    assert [c.updates for c in st.cycles] == [updates, updates]
    assert all(c.flops > 0 for c in st.cycles)
    if name == "medgan":  # fixed batches: the same arithmetic every iteration (MedDiff's
        # conditioning rows are one per distinct timestep and label of the batch: they vary)
        assert st.cycles[0].flops == st.cycles[1].flops


def test_the_suite_and_its_summary_import_from_a_checkout():
    """``tox -e bench`` collects benchmarks/test_efficiency.py with the repository root on the path
    (benchmarks/ is a package): a bare ``import efficiency`` there collected nothing."""
    import importlib

    suite = importlib.import_module("benchmarks.test_efficiency")
    summary = importlib.import_module("benchmarks.conftest")
    assert suite.efficiency is eff
    assert "from benchmarks import efficiency" in Path(summary.__file__).read_text()


def test_a_stated_reason_has_its_witness_measured_beside_it() -> None:
    """A reason that names one cost (EHR-GPT's dropout masks) comes with a witness row, the same
    update without that cost: a generator spec the benchmark builds and times like any other."""
    for name, witness in eff.WITNESSES.items():
        assert name in eff.GENERATORS and name in eff.REASONS and witness in eff.REASONS[name]
        gen = eff.build(witness)
        assert type(gen) is type(eff.build(name)) and eff._boundary_for(witness, gen) == eff._boundary_for(name, gen)
    assert eff.build("ehrgpt:dropout=0.0").dropout == 0.0 and eff.build("ehrgpt").dropout == 0.1
