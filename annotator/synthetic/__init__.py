"""The synthetic capture corpus: procedural facial motion on the model in use, camera rigs of three
domains (``lab`` ~ MEAD, ``wild`` ~ VoxCeleb2, ``mocap`` ~ VOCASET), a detector-noise model, and the
corpus builder (``python -m annotator synth``). See :mod:`annotator.synthetic.builder` for the layout."""
