"""The multi-node path the README names (``srun bggan-train ... trainer=ddp trainer.num_nodes=2``), on one machine:
two node processes over the loopback interface with gloo, SLURM's variables set as ``srun`` sets them for one task
per node. Each rank trains on its own half of the pairs; rank 0 alone writes the checkpoints and the weight file;
killing one node ends the other in one line, and both resume from the last checkpoint."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.cli.test_train import FAST, assert_ok, load_ckpt, run_train, train_args, train_env
from tests.conftest import console_script

#: 10 pairs: 8 train, 2 validate; batch 2. One process takes 4 steps an epoch; two ranks 2 each.
PAIRS, BATCH, TRAIN = 10, 2, 8
TIMEOUT = 300


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def slurm_env(rank: int, port: int) -> dict[str, str]:
    """What ``srun --nodes=2 --ntasks-per-node=1`` gives task ``rank`` (the node list names this machine)."""
    return {**train_env(), "SLURM_JOB_ID": "4242", "SLURM_JOB_NAME": "bggan-train", "SLURM_NTASKS": "2",
            "SLURM_NNODES": "2", "SLURM_NTASKS_PER_NODE": "1", "SLURM_NODELIST": "localhost",
            "SLURM_NODEID": str(rank), "SLURM_PROCID": str(rank), "SLURM_LOCALID": "0", "MASTER_PORT": str(port),
            "OMP_NUM_THREADS": "1"}


def launch(tmp_path: Path, args: list[str], tag: str) -> list[subprocess.Popen]:
    """Both node processes, each with its log ``tmp_path/<tag>-node<rank>.log``."""
    port = free_port()
    nodes = []
    for rank in (0, 1):
        log = open(tmp_path / f"{tag}-node{rank}.log", "w")  # noqa: SIM115 (closed when the process ends)
        nodes.append(subprocess.Popen([console_script("bggan-train"), *args], cwd=tmp_path, env=slurm_env(rank, port),
                                      stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
        log.close()
    return nodes


def finish(nodes: list[subprocess.Popen], timeout: float = TIMEOUT) -> list[int]:
    deadline = time.monotonic() + timeout
    try:
        return [node.wait(timeout=max(1.0, deadline - time.monotonic())) for node in nodes]
    finally:
        for node in nodes:
            if node.poll() is None:
                os.killpg(node.pid, signal.SIGKILL)
                node.wait()


def node_args(run_dir: Path, *overrides: str) -> list[str]:
    return train_args("trainer=ddp_sim", "trainer.devices=1", "trainer.num_nodes=2", f"data.pairs.n={PAIRS}",
                      f"data.batch_size={BATCH}", f"hydra.run.dir={run_dir}", *overrides)


@pytest.mark.slow
def test_two_nodes_share_the_pairs_write_once_end_cleanly_when_one_is_killed_and_resume(tmp_path):
    run_dir = tmp_path / "run"
    checkpoints = run_dir / "checkpoints"
    nodes = launch(tmp_path, node_args(run_dir, "trainer.max_epochs=40"), "first")
    try:
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline and all(n.poll() is None for n in nodes):
            if (checkpoints / "last.ckpt").exists() and load_ckpt(checkpoints / "last.ckpt")["epoch"] >= 1:
                break
            time.sleep(0.1)
        assert all(n.poll() is None for n in nodes), (tmp_path / "first-node0.log").read_text()[-3000:]
        os.killpg(nodes[1].pid, signal.SIGKILL)  # node 1 is lost
        started = time.monotonic()
        codes = finish(nodes, timeout=120)
    finally:
        finish(nodes, timeout=1)
    log0 = (tmp_path / "first-node0.log").read_text()
    assert codes == [1, -signal.SIGKILL], log0[-3000:]
    assert time.monotonic() - started < 120  # not gloo's 30-minute timeout
    assert "Traceback" not in log0
    assert log0.strip().splitlines()[-1].startswith(
        "bggan-train: error: a process of this 2-process run was lost ("), log0[-2000:]
    assert "resume every process with ckpt_path=last" in log0

    killed = load_ckpt(checkpoints / "last.ckpt")
    steps_per_epoch = TRAIN // 2 // BATCH  # each rank its own half of the 8 training pairs
    assert killed["global_step"] == (killed["epoch"] + 1) * steps_per_epoch

    epochs = killed["epoch"] + 3
    nodes = launch(tmp_path, node_args(run_dir, f"trainer.max_epochs={epochs}", "ckpt_path=last"), "resumed")
    assert finish(nodes) == [0, 0], (tmp_path / "resumed-node0.log").read_text()[-3000:]
    last = load_ckpt(checkpoints / "last.ckpt")
    assert (last["epoch"], last["global_step"]) == (epochs - 1, epochs * steps_per_epoch)
    # rank 0 alone writes: one last.ckpt and one best, one weight file, one report of the run
    assert sorted(p.name.split("-")[0] for p in checkpoints.iterdir()) == ["best", "last.ckpt"]
    assert (run_dir / "generator.safetensors").is_file() and list(run_dir.glob("config.resumed-*.yaml"))
    logs = [(tmp_path / f"resumed-node{r}.log").read_text() for r in (0, 1)]
    assert logs[0].count("  generator: ") == 1 and "  generator: " not in logs[1]


@pytest.mark.slow
def test_one_process_on_the_same_pairs_takes_every_batch(tmp_path):
    """The negative control of the share: without a second node the one process takes all 8 pairs, 4 steps an
    epoch, so the 2 per epoch above are each rank's half."""
    run_dir = tmp_path / "run"
    args = train_args(f"data.pairs.n={PAIRS}", f"data.batch_size={BATCH}", "trainer.max_epochs=1",
                      f"hydra.run.dir={run_dir}", base=FAST)
    assert_ok(run_train(tmp_path, *args))
    assert load_ckpt(run_dir / "checkpoints" / "last.ckpt")["global_step"] == TRAIN // BATCH


def test_a_lost_process_is_told_from_other_errors_by_what_the_backend_says():
    from bggan.train import lost_a_process

    gloo = RuntimeError("[/__w/pytorch/third_party/gloo/gloo/transport/tcp/pair.cc:553] Connection closed by peer "
                        "[127.0.0.1]:48557. This is typically caused by a remote worker crashing.")
    assert lost_a_process(gloo) == "Connection closed by peer [127.0.0.1]:48557"  # no source path, first sentence
    assert lost_a_process(BrokenPipeError(32, "Broken pipe"))
    assert lost_a_process(RuntimeError("NCCL communicator was aborted on rank 1."))
    for other in (RuntimeError("CUDA out of memory"), RuntimeError("shape '[2, 3]' is invalid"), ValueError("x")):
        assert lost_a_process(other) is None  # the control: a run's own errors stay what they are
