from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from bench.core.errors import OptionError
from bench.core.options import GeneratorSpec, parse_spec_list
from generators import registry
from generators.base import Generator

PLUGIN = textwrap.dedent(
    '''
    import numpy as np
    from generators.base import Generator


    class BernoulliHalf(Generator):
        """A third-party generator: every code present with probability one half."""

        name = "coin"

        def __init__(self, p: float = 0.5, random_state=None):
            self.p = p
            self.random_state = random_state

        def fit(self, data):
            self.n_codes_ = data.n_codes
            self.rng_ = np.random.default_rng(self.random_state)
            self.fitted_ = True
            return self

        def sample(self, n, labels=None):
            self._check_fitted()
            return (self.rng_.random((n, self.n_codes_)) < self.p).astype("float32"), None


    from metrics.base import Metric, Score


    class Density(Metric):
        """A third-party metric: the synthetic records' share of present codes."""

        name = "density"
        default = False
        scores = (Score("density", "target", ideal=0.1),)

        def compute(self, real_train, real_test, synthetic):
            return {"density": float((synthetic.X > 0).mean())}


    from bench.datasets.spec import DatasetEntry, Option


    def ones(n=5):
        import numpy as np
        from bench.core.data import EHRDataset

        return EHRDataset(X=np.eye(n, dtype="float32"), y=None, columns=[f"c{j}" for j in range(n)], name="diag")


    DIAG = DatasetEntry("diag", "an identity matrix", "coin_plugin:ones", options={"n": Option(5, "size")})
    NOT_A_GENERATOR = int
    '''
)

ENTRY_POINTS = """[ehrbench.generators]
coin = coin_plugin:BernoulliHalf
wrong = coin_plugin:NOT_A_GENERATOR
broken = no_such_module_anywhere:Thing

[ehrbench.metrics]
density = coin_plugin:Density

[ehrbench.datasets]
diag = coin_plugin:DIAG
"""


@pytest.fixture
def plugin_path(tmp_path, monkeypatch):
    """A package installed the way pip would: a module plus a dist-info with an entry point."""
    (tmp_path / "coin_plugin.py").write_text(PLUGIN)
    info = tmp_path / "coin_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: coin-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(ENTRY_POINTS)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_spec_list_splits_generators_and_their_options():
    specs = parse_spec_list("meddiff:steps=20,sampler=ddim,medgan, independent")
    assert [s.name for s in specs] == ["meddiff", "medgan", "independent"]
    assert specs[0].options == {"steps": "20", "sampler": "ddim"}
    assert specs[0].label == "meddiff:sampler=ddim,steps=20"


@pytest.mark.parametrize(
    ("text", "message"),
    [("steps=3", "before any generator"), (":a=1", "no generator name"),
     ("x:a=1,a=2", "given twice"), ("", "no generator named")],
)
def test_malformed_specs_are_rejected(text, message):
    with pytest.raises(OptionError, match=message):
        parse_spec_list(text)


def test_unknown_generator_lists_the_valid_names():
    with pytest.raises(OptionError, match="unknown generator 'nope'.*independent.*real-copy"):
        registry.get_class("nope")


def test_unknown_option_lists_the_valid_options():
    with pytest.raises(OptionError, match="generator 'independent': unknown option 'steps'; valid options"):
        registry.make("independent:steps=3")


def test_option_values_take_the_type_of_the_default(plugin_path):
    gen = registry.make("coin:p=0.25", random_state=1)
    assert gen.p == 0.25 and isinstance(gen.p, float)
    with pytest.raises(OptionError, match="generator 'coin': option p='high' is not a number"):
        registry.make("coin:p=high")


def test_entry_point_plugin_is_listed_and_runs(plugin_path, toy_split):
    assert "coin" in registry.available()
    gen = registry.make(GeneratorSpec("coin"), random_state=0)
    train, _ = toy_split
    X, _ = gen.fit(train).sample(50)
    assert X.shape == (50, train.n_codes)
    env = {**os.environ, "PYTHONPATH": str(plugin_path), "EHRBENCH_PROGRESS": "0"}
    out = subprocess.run([sys.executable, "-m", "bench", "list"], capture_output=True, text=True, env=env)
    assert out.returncode == 0 and "coin" in out.stdout
    out = subprocess.run(
        [sys.executable, "-m", "bench", "run", "-g", "coin", "-d", "toy", "-s", "0", "-m", "dimwise_probability",
         "--results-dir", str(plugin_path / "res"), "--no-progress"],
        capture_output=True, text=True, env=env,
    )
    assert out.returncode == 0, out.stderr
    assert "| coin |" in out.stdout.replace("independent | ", "")


def test_metric_and_dataset_plugins_come_through_the_same_registry(plugin_path):
    from bench import datasets
    from metrics import registry as metrics

    assert "density" in metrics.available() and metrics.get_class("density").name == "density"
    assert metrics.METRICS.origin("density") == "plugin coin-plugin" and metrics.METRICS.origin("dcr") == "built-in"
    assert "diag" in datasets.available()
    assert datasets.load("diag:n=3").n_codes == 3  # the entry's loader named as module:function text
    assert "density" not in metrics.default_names()  # a plugin metric runs when named


def test_a_broken_or_wrong_plugin_is_named_and_hides_nothing(plugin_path):
    with pytest.raises(OptionError, match=r"generator plugin 'broken' \(no_such_module_anywhere:Thing\) failed to load"):
        registry.get_class("broken")
    with pytest.raises(OptionError, match="generator 'wrong': <class 'int'> does not subclass generators.base.Generator"):
        registry.get_class("wrong")
    env = {**os.environ, "PYTHONPATH": str(plugin_path), "EHRBENCH_PROGRESS": "0"}
    out = subprocess.run([sys.executable, "-m", "bench", "list", "generators"], capture_output=True, text=True, env=env)
    assert out.returncode == 0 and "broken: (unavailable:" in out.stdout and "medgan:" in out.stdout


def test_the_registry_class_checks_what_is_registered():
    from bench.core.registry import Registry, load_target, subclass_of

    reg = Registry("generator", "ehrbench.none", {"independent": "generators.baselines:IndependentGenerator"},
                   subclass_of(Generator, "generators.base.Generator"))
    assert reg.get("independent").__name__ == "IndependentGenerator"  # a built-in: module:attribute text
    with pytest.raises(OptionError, match="does not subclass"):
        reg.register(int, "int")
    with pytest.raises(OptionError, match="unknown generator 'x'; valid generators: independent"):
        reg.get("x")
    assert load_target("generators.base:Generator.fit") is Generator.fit
