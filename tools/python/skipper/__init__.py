"""Skipper: skip prediction on Spotify's MSSD data with a GBDT and a
bidirectional LSTM over one C++/CUDA tensor core, in scikit-learn's
conventions.

    import skipper
    data = skipper.read_mssd("sample/", task="seed")
    model = skipper.GBDTClassifier(learning_rate=0.09, max_depth=5).fit(data.data, data.target)

Training progress goes to the "skipper" logger (INFO) and to fit(callbacks=...).
"""
from . import metrics
from ._core import built_with_cuda, cuda_available
from ._gbdt import GBDTClassifier
from ._lstm import LSTMClassifier
from .data import read_mssd, split_indices
from ._core import version as _version

__version__ = _version()
__all__ = ["GBDTClassifier", "LSTMClassifier", "read_mssd", "split_indices", "metrics", "built_with_cuda",
           "cuda_available"]
