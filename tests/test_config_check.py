from typing import Literal

import pytest
from omegaconf import OmegaConf

from bggan.config_check import ConfigCheck, ConfigRejected, check_parameters, check_targets, describe, fits
from bggan.errors import BgganError


class Target:
    def __init__(self, n: int = 1, rate: float = 0.5, size: tuple[int, int] = (8, 8), name: str | None = None,
                 mode: Literal["a", "b"] = "a", flags: list[bool] | None = None, child=None):
        pass


class Forwarding(Target):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)


@pytest.mark.parametrize("value, hint, ok", [
    (3, int, True), (True, int, False), ("3", int, False),
    (3, float, True), (0.5, float, True), (False, float, False),
    (None, int | None, True), ("x", int | None, False),
    ([1, 2], tuple[int, int], True), ([1, 2, 3], tuple[int, int], False), ([1, "2"], tuple[int, int], False),
    ([True, False], list[bool], True), ([1], list[bool], False), ("ab", list[str], False),
    ("a", Literal["a", "b"], True), ("c", Literal["a", "b"], False), (1, Literal[True], False),
    ("anything", object, True),
])
def test_fits_refuses_only_what_is_certainly_wrong(value, hint, ok):
    assert fits(value, hint) is ok


def test_describe_reads_like_a_config_value():
    assert describe(int | None) == "int or null"
    assert describe(tuple[float, float]) == "[float, float]"
    assert describe(Literal["a", "b"]) == "'a' or 'b'"
    assert describe(list[int]) == "a list of int"


def test_unknown_keys_name_the_parameters_and_forwarding_subclasses_read_their_base():
    check_parameters(OmegaConf.create({"n": 2, "size": [4, 4], "mode": "b"}), Target)
    with pytest.raises(BgganError, match=r"^x.typo: T has no parameter 'typo' \(its parameters: n, rate, size, name"):
        check_parameters(OmegaConf.create({"typo": 1}), Target, "x", name="T")
    with pytest.raises(BgganError, match=r"^n='two': .*Forwarding's n takes int$"):
        check_parameters(OmegaConf.create({"n": "two"}), Forwarding)


def test_check_targets_walks_nested_targets_and_leaves_missing_values_to_the_target():
    cfg = OmegaConf.create({"hydra": {"anything": 1}, "seed": 0,
                            "outer": {"_target_": "tests.test_config_check.Target", "name": "???",
                                      "child": {"_target_": "tests.test_config_check.Target", "rate": "fast"}}})
    with pytest.raises(BgganError, match=r"^outer.child.rate='fast': .* takes float$"):
        check_targets(cfg)
    cfg.outer.child.rate = 0.25
    check_targets(cfg)
    cfg.outer._target_ = "tests.nowhere.Nothing"
    with pytest.raises(BgganError, match="outer._target_: cannot import tests.nowhere.Nothing"):
        check_targets(cfg)


def test_the_hydra_callback_carries_its_error_past_hydra():
    cfg = OmegaConf.create({"hydra": {}, "n": "x"})
    with pytest.raises(ConfigRejected) as rejected:
        ConfigCheck(target="tests.test_config_check.Target", name="T").on_run_start(cfg)
    assert isinstance(rejected.value.error, BgganError) and "n='x': T's n takes int" in str(rejected.value.error)
    assert not isinstance(rejected.value, Exception)  # Hydra would turn an Exception into a warning
    ConfigCheck().on_job_end(config=cfg)  # every other hook of Hydra's callback interface does nothing
