"""What every argparse command shares: a usage error is one line and exit code 2."""

from __future__ import annotations

import argparse

import pytest

from bggan.cli import demo, eval, import_tf, render, sample, synth
from bggan.cli.common import run_command

COMMANDS = {"bggan-demo": demo, "bggan-eval": eval, "bggan-import-tf": import_tf, "bggan-render": render,
            "bggan-sample": sample, "bggan-synth": synth}


@pytest.mark.parametrize("prog", COMMANDS)
def test_an_unknown_option_is_one_line_and_exit_2(prog, capsys):
    assert run_command(prog, COMMANDS[prog].main, ["--no-such-option"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"{prog}: error:") and "\n" not in err and "(see --help)" in err


def test_the_control_argparse_alone_prints_its_usage_block(capsys):
    parser = argparse.ArgumentParser(prog="plain")
    parser.add_argument("--size")
    with pytest.raises(SystemExit):
        parser.parse_args(["--no-such-option"])
    err = capsys.readouterr().err.strip()
    assert err.startswith("usage: plain") and "\n" in err
