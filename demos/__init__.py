"""Demos of the NeuFace Motion Suite: the quickstart pipeline and (later) the Gradio app.

Imports anything; imported by nothing.
"""
