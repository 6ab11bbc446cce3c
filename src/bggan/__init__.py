"""bggan: a PyTorch port of BGGAN (Bokeh-Glass GAN) with a bridge to TensorFlow Lite."""

from bggan.errors import BgganError

__version__ = "0.1.0"
__all__ = ["BgganError", "__version__"]
