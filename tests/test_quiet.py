import logging
import os

from bggan.quiet import TENSORFLOW_NOISE, filtered_stderr, quiet_lightning


def test_filtered_stderr_drops_tensorflow_noise_and_keeps_everything_else(capfd):
    with filtered_stderr(TENSORFLOW_NOISE):
        os.write(2, b"W0000 computation_placer.cc:177] computation placer already registered.\n"
                    b"a real warning\n"
                    b"E0000 cuda_dnn.cc] Unable to register cuDNN factory: Attempting to register\n")
    assert capfd.readouterr().err == "a real warning\n"


def test_lightning_loses_its_tip_and_nothing_else(caplog):
    quiet_lightning()
    quiet_lightning()  # idempotent
    logger = logging.getLogger("pytorch_lightning.utilities.rank_zero")
    assert sum(type(f).__name__ == "_DropTips" for f in logger.filters) == 1
    with caplog.at_level(logging.INFO, logger=logger.name):
        logger.info("💡 Tip: For seamless cloud logging ... try installing [litlogger](https://pypi.org/...)")
        logger.info("GPU available: False, used: False")
        logger.info("Tip: a different tip stays")
    assert [r.getMessage() for r in caplog.records] == ["GPU available: False, used: False", "Tip: a different tip stays"]
