"""Tagger models: a registry of architectures, each built from a :class:`~earmark.spec.TaggingSpec`.

Importing this package registers every model; see :mod:`earmark.models.registry` for the
contract they all follow.
"""

from earmark.models import aisfx_cnn as aisfx_cnn  # registers "aisfx_cnn"; aisfx loads on build
from earmark.models.attention_mil import AttentionMilConfig, AttentionMilTagger
from earmark.models.base import TaggerModel, frontend_dim
from earmark.models.cnn import CnnConfig, CnnTagger
from earmark.models.crnn import CrnnConfig, CrnnTagger
from earmark.models.mobilenet import MobileNetConfig, MobileNetTagger
from earmark.models.pooling import POOLINGS, HeadConfig, build_pooling
from earmark.models.probe import LinearProbeConfig, MlpProbeConfig, ProbeTagger
from earmark.models.registry import MODELS, build_model, model_config, register_model
from earmark.models.resnet import ResNetConfig, ResNetTagger, SeResNetConfig
from earmark.models.waveform import SampleCnnTagger, WaveformModelConfig

__all__ = [
    "MODELS",
    "POOLINGS",
    "AttentionMilConfig",
    "AttentionMilTagger",
    "CnnConfig",
    "CnnTagger",
    "CrnnConfig",
    "CrnnTagger",
    "HeadConfig",
    "LinearProbeConfig",
    "MlpProbeConfig",
    "MobileNetConfig",
    "MobileNetTagger",
    "ProbeTagger",
    "ResNetConfig",
    "ResNetTagger",
    "SampleCnnTagger",
    "SeResNetConfig",
    "TaggerModel",
    "WaveformModelConfig",
    "build_model",
    "build_pooling",
    "frontend_dim",
    "model_config",
    "register_model",
]
