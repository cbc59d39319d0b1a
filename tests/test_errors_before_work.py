"""Bad input exits 2 with a message naming it, before any data is loaded or model trained (issue 27)."""

from __future__ import annotations

import pytest

from bench import api, datasets
from bench.cli import main
from bench.core.errors import OptionError
from generators import registry
from generators.baselines import IndependentGenerator

BASE = ["run", "-g", "real-copy", "-d", "toy", "-s", "0", "-m", "dimwise_probability", "--no-progress"]


@pytest.fixture
def no_data(monkeypatch):
    """Loading any dataset fails the test: every error below must come before it."""

    def boom(*args, **kwargs):
        raise AssertionError("a dataset was loaded before the error")

    monkeypatch.setattr(datasets, "build", boom)


class Tiny(IndependentGenerator):
    """A generator with a preset of its own, which the built-ins do not know."""

    name = "tiny-preset"
    presets = {"tiny": {}}


@pytest.fixture
def tiny_preset():
    registry.register(Tiny)
    yield
    registry._extra.pop("tiny-preset", None)


def _fails(argv, capsys, *needles):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err, err
    return err


@pytest.mark.usefixtures("no_data")
@pytest.mark.parametrize(
    ("extra", "needles"),
    [
        (["--out", "/proc/ehrbench-x"], ["--out /proc/ehrbench-x: not writable"]),
        (["--preset", "fast"], ["unknown --preset 'fast'; valid presets: cpu, quick"]),
        (["-g", "meddiff:steps=abc"], ["generator 'meddiff': option steps='abc' is not an integer"]),
        (["-g", "medgan:no_such=1"], ["generator 'medgan': unknown option 'no_such'"]),
        (["-g", "meddiff:sampler=nope"], ["meddiff", "nope"]),
        (["-d", "toy:rows=3"], ["dataset 'toy': unknown option 'rows'"]),
        (["-d", "file:path=x.csv,kind=auto"], ["dataset 'file': option kind='auto' is not one of binary, count"]),
        (["--executor", "nope"], ["unknown executor 'nope'"]),
        (["--device", "tpu"], ["--device must be auto, cpu or cuda"]),
        (["-s", "0,0"], ["--seeds: a seed is repeated"]),
    ],
)
def test_bad_input_exits_2_naming_it_before_any_data(tmp_path, capsys, extra, needles):
    _fails([*BASE, "--results-dir", str(tmp_path), *extra], capsys, *needles)
    assert not (tmp_path / "runs").exists()  # nothing half-written


def test_a_results_dir_that_is_a_file_is_named(tmp_path, capsys, no_data):
    afile = tmp_path / "hostname"
    afile.write_text("x")
    _fails([*BASE, "--results-dir", str(afile)], capsys, f"--results-dir {afile}/runs: {afile} is a file, not a folder")
    _fails([*BASE, "--out", str(afile)], capsys, f"--out {afile}: exists and is not a folder")


def test_a_preset_some_generators_lack_is_an_error_naming_the_generator(tmp_path, capsys, no_data, tiny_preset):
    _fails([*BASE, "--results-dir", str(tmp_path), "-g", "tiny-preset,medgan", "--preset", "tiny"], capsys,
           "generator 'medgan': unknown preset 'tiny'; valid presets: cpu, quick")
    with pytest.raises(OptionError, match="generator 'independent': unknown preset 'nope'"):
        registry.make("independent", preset="nope")


def test_an_out_folder_of_another_configuration_is_refused_before_loading(tmp_path, capsys, monkeypatch):
    out = tmp_path / "mine"
    assert main([*BASE, "--out", str(out)]) == 0
    capsys.readouterr()

    def boom(*args, **kwargs):
        raise AssertionError("loaded")

    monkeypatch.setattr(datasets, "build", boom)
    _fails([*BASE, "-s", "1", "--out", str(out)], capsys, "holds a run of another configuration")


def test_the_api_raises_the_same_errors_before_any_data(tmp_path, no_data):
    with pytest.raises(OptionError, match="--out /proc/ehrbench-x: not writable"):
        api.run_benchmark("real-copy", datasets="toy", seeds=0, out="/proc/ehrbench-x")
    with pytest.raises(OptionError, match="unknown --preset 'fast'"):
        api.Benchmark(api.configure("real-copy", "toy", seeds=0, preset="fast"), results_dir=tmp_path)
    with pytest.raises(OptionError, match="--seeds: expected comma-separated integers"):
        api.configure("real-copy", "toy", seeds="a,b")
    assert not (tmp_path / "runs").exists()


def test_a_non_binary_file_names_the_column_and_exits_2(tmp_path, capsys):
    data = tmp_path / "mine.csv"
    data.write_text("a,b,y\n" + "1,0,1\n0,2,0\n1,1,0\n0,0,1\n" * 20)
    _fails([*BASE, "-d", f"file:path={data},label=y", "--results-dir", str(tmp_path / "r")], capsys,
           "column 'b', line 3: not 0 or 1", "kind=count reads counts")


@pytest.mark.parametrize("command", [["run", "-g", "real-copy", "-d", "toy"], ["leaderboard"], ["check"]])
def test_seeds_mean_one_thing_in_every_subcommand(command, capsys, no_data):
    """--seeds: the seeds of the jobs to run, comma-separated, read and refused alike everywhere."""
    from bench.cli import SEEDS_HELP, build_parser

    _fails([*command, "-s", "a,b"], capsys, "--seeds: expected comma-separated integers, got 'a,b'")
    sub = build_parser()._subparsers._group_actions[0].choices[command[0]]
    action = next(a for a in sub._actions if "--seeds" in a.option_strings)
    assert action.help.startswith(SEEDS_HELP)
