"""Demos of the NeuFace Motion Suite: the quickstart (:mod:`demos.quickstart`, the main job end to end)
and the Gradio web demo (:mod:`demos.app`; its work without the web layer in :mod:`demos.backend`).

Imports anything; imported by nothing.
"""
