"""Dice, IoU, precision and recall from pixel counts, with an explicit value for empty denominators."""

__all__ = ["overlap_metrics"]


def overlap_metrics(tp, fp, fn, empty=float("nan")):
    """``dict(dice, iou, precision, recall)`` of true/false positive and false negative counts.

    ``empty`` is the value of a ratio whose denominator is 0 (nothing predicted,
    nothing true): NaN in reports (undefined), 1.0 for a validation score
    (nothing to find and nothing found is right), 0.0 where the number must
    stay finite JSON (model cards).
    """
    tp, fp, fn = float(tp), float(fp), float(fn)

    def ratio(numerator, denominator):
        return numerator / denominator if denominator else empty

    return dict(dice=ratio(2 * tp, 2 * tp + fp + fn), iou=ratio(tp, tp + fp + fn), precision=ratio(tp, tp + fp),
                recall=ratio(tp, tp + fn))
