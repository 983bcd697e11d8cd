"""Evaluation: a model's predictions against ground truth (COCO AP exactly as pycocotools, VOC
AP, confusion matrix, per-class P/R/F1, per-object matches) and where to look next (mistakes).

    >>> import visionflow as vf
    >>> result = vf.evaluate("data/", "results.json")        # doctest: +SKIP
    >>> result.to_json()["AP"]                                # doctest: +SKIP
"""

from .coco_eval import CocoEval, Params, evaluate_coco
from .confusion import Confusion, confusion_matrix
from .mistakes import Mistakes, find_mistakes
from .predictions import align, load_predictions
from .run import Evaluation, evaluate
from .voc_eval import VocEval, evaluate_voc

__all__ = ["CocoEval", "Confusion", "Evaluation", "Mistakes", "Params", "VocEval", "align",
           "confusion_matrix", "evaluate", "evaluate_coco", "evaluate_voc", "find_mistakes",
           "load_predictions"]
