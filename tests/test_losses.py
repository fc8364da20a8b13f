import pytest
import torch

from radiounet.train.augment import random_dihedral
from radiounet.train.losses import segmentation_loss, soft_dice_loss
from radiounet.train.metrics import PixelCounts


def test_dice_loss_is_zero_for_a_confident_perfect_prediction_and_one_for_the_opposite():
    target = torch.zeros(2, 1, 8, 8)
    target[0, 0, 2:5, 2:5] = 1
    logits = (target * 2 - 1) * 50
    assert soft_dice_loss(logits, target) < 1e-3
    assert soft_dice_loss(-logits, target) > 0.95


def test_empty_masks_give_finite_losses_that_reward_predicting_nothing():
    target = torch.zeros(4, 1, 8, 8)
    quiet = segmentation_loss(torch.full_like(target, -20.0), target)
    noisy = segmentation_loss(torch.full_like(target, 5.0), target)
    assert torch.isfinite(quiet) and quiet < 0.01 and noisy > 1


def test_pixel_weight_scales_the_cross_entropy_of_the_weighted_pixels():
    target = torch.zeros(1, 1, 4, 4)
    logits = torch.zeros(1, 1, 4, 4)
    logits[0, 0, 0, 0] = 3.0  # one false positive
    weight = torch.ones_like(target)
    plain = segmentation_loss(logits, target, dice_weight=0)
    assert torch.allclose(segmentation_loss(logits, target, dice_weight=0, pixel_weight=weight), plain)
    weight[0, 0, 0, 0] = 4.0
    heavier = segmentation_loss(logits, target, dice_weight=0, pixel_weight=weight)
    # BCE of the false positive is softplus(3); the others are log 2 each
    expected = (4 * torch.nn.functional.softplus(torch.tensor(3.0)) + 15 * torch.log(torch.tensor(2.0))) / 16
    assert torch.allclose(heavier, expected)


def test_pixel_metrics_on_a_hand_made_case():
    predicted = torch.tensor([[1, 1, 0, 0]], dtype=torch.bool)
    target = torch.tensor([[1, 0, 1, 0]], dtype=torch.bool)
    counts = PixelCounts()
    counts.update(predicted, target)
    counts.update(torch.tensor([[1]], dtype=torch.bool), torch.tensor([[1]], dtype=torch.bool))
    m = counts.metrics()  # tp 2, fp 1, fn 1
    assert m["dice"] == pytest.approx(4 / 6) and m["iou"] == pytest.approx(2 / 4)
    assert m["precision"] == pytest.approx(2 / 3) and m["recall"] == pytest.approx(2 / 3)


def test_dihedral_augmentation_keeps_images_and_masks_aligned():
    image = torch.arange(2 * 16, dtype=torch.float32).reshape(2, 1, 4, 4)
    mask = image.clone()
    generator = torch.Generator().manual_seed(3)
    seen = set()
    for _ in range(30):
        a, b = random_dihedral([image, mask], generator)
        assert torch.equal(a, b)
        assert sorted(a[0].flatten().tolist()) == sorted(image[0].flatten().tolist())
        seen.add(tuple(a[0].flatten().tolist()))
    assert len(seen) == 8


def test_class_dice_counts_a_missed_rare_class():
    from radiounet.train.losses import class_segmentation_loss

    labels = torch.zeros(1, 1, 8, 8, dtype=torch.long)
    labels[0, 0, 0, :4] = 2  # 4 relic pixels among 64
    target = (labels == 2).float()
    perfect = torch.nn.functional.one_hot(labels[:, 0], 5).permute(0, 3, 1, 2).float() * 20
    as_halo = perfect.clone()
    as_halo[:, [1, 2]] = as_halo[:, [2, 1]]  # relic pixels called halo: the diffuse map is still perfect
    missed = class_segmentation_loss(as_halo, labels, target, ce_weight=0)
    assert class_segmentation_loss(perfect, labels, target, ce_weight=0) < 1e-3
    # soft Dice loss (smooth 1) of relic: 1 - 1/5 (4 missed); of halo: 1 - 1/5 (4 false); mean over 4 classes, x 0.5
    assert missed == pytest.approx(0.5 * (0.8 + 0.8) / 4, abs=1e-3)
