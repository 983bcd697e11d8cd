"""Bridges to the libraries users analyse and train with (pyarrow/pandas, supervision, Hugging
Face datasets, TensorFlow, PyTorch). Each module imports its library on first use only: none of
them is a dependency of visionflow."""
