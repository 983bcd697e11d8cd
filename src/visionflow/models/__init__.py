"""Label with models: a registry of real models (pulled and converted once into the cache),
the runtimes that turn an image into detections, keypoints or masks, auto-labelling through an
ontology, click/box-to-mask segmentation, and distillation into a small student detector.

Everything here is an optional extra (`visionflow[autolabel]`, `visionflow[distill]`): the
core install never imports onnxruntime, OpenCV's GrabCut, transformers or torch.
"""
