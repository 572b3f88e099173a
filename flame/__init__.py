"""FLAME core: the shared contract of the suite (imports nothing else from the project).

Public names are re-exported here; nothing runs at import time.
"""

from flame.embedding import LandmarkEmbedding, load_landmark_embedding
from flame.errors import ModelFileError
from flame.model import FlameModelData, load_model
from flame.types import FlameOutput, FlameParams

__all__ = [
    "FlameModelData",
    "LandmarkEmbedding",
    "ModelFileError",
    "FlameOutput",
    "FlameParams",
    "load_model",
    "load_landmark_embedding",
]
