"""Checks for paired augmentation: geometry moves image and mask together, colour only the
image, and masks keep their labels; for facades, also the choices their layout asks for."""

from __future__ import annotations

import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

from course_utils.checks import CheckFailed, passed
from course_utils.facade_classes import IGNORE_INDEX

__all__ = ["check_facade_augmentation", "check_paired_augmentation"]

_DRAWS = 20


def _letter_f(size: int = 32) -> torch.Tensor:
    """An 'F': no flip or rotation maps it onto itself, so any misalignment shows."""
    mask = torch.zeros(size, size, dtype=torch.long)
    mask[6:26, 8:13] = 1
    mask[6:11, 13:24] = 1
    mask[14:18, 13:20] = 1
    return mask


def _iou(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a & b).sum() / (a | b).sum().clamp(min=1)).item()


def check_paired_augmentation(transform) -> None:
    """Check ``transform(tv_tensors.Image, tv_tensors.Mask) -> (image, mask)``.

    Over 20 random draws: the mask keeps its label values (nearest-neighbour resampling;
    ``IGNORE_INDEX`` allowed for uncovered pixels), the bright shape in the image stays on the mask
    (geometry applied to both), some draw moves the shape (geometry present) and some draw
    changes the brightness of a uniform grey image's centre (colour jitter present).
    """
    mask = _letter_f()
    image = (0.1 + 0.8 * mask.float()).expand(3, -1, -1).clone()
    moved = brightened = False
    for draw in range(_DRAWS):
        torch.manual_seed(draw)
        out = transform(tv_tensors.Image(image.clone()), tv_tensors.Mask(mask.clone()))
        if not isinstance(out, tuple | list) or len(out) != 2:
            raise CheckFailed(f"draw {draw}: return the pair (image, mask), got "
                              f"{type(out).__name__}")
        out_image, out_mask = (torch.as_tensor(t) for t in out)
        if out_image.shape != image.shape or out_mask.shape != mask.shape:
            raise CheckFailed(f"draw {draw}: shapes changed from {tuple(image.shape)} and "
                              f"{tuple(mask.shape)} to {tuple(out_image.shape)} and "
                              f"{tuple(out_mask.shape)}; keep the size")
        values = set(torch.unique(out_mask).tolist())
        if not values <= {0, 1, IGNORE_INDEX}:
            raise CheckFailed(f"draw {draw}: the mask holds values {sorted(values)[:6]}, not "
                              f"only labels 0/1 (and {IGNORE_INDEX} padding): masks must be resampled "
                              f"nearest-neighbour; wrap them in tv_tensors.Mask")
        grey = out_image.float().mean(0)
        inside, outside = out_mask == 1, out_mask == 0
        if inside.any() and outside.any():
            level = (grey[inside].mean() + grey[outside].mean()) / 2
            overlap = _iou(grey > level, inside)
            if overlap < 0.8:
                raise CheckFailed(f"draw {draw}: the bright shape in the image and the mask "
                                  f"overlap with IoU {overlap:.2f} only: image and mask were "
                                  f"not moved together; pass both in ONE call")
        moved |= not torch.equal(out_mask, mask)
    uniform = torch.full((3, 32, 32), 0.5)
    for draw in range(_DRAWS):
        torch.manual_seed(draw)
        out_image, out_mask = transform(tv_tensors.Image(uniform.clone()),
                                        tv_tensors.Mask(torch.ones(32, 32, dtype=torch.long)))
        brightened |= abs(torch.as_tensor(out_image)[:, 16, 16].mean().item() - 0.5) > 1e-3
        if torch.as_tensor(out_mask)[16, 16].item() != 1:
            raise CheckFailed(f"draw {draw}: the centre of an all-ones mask changed to "
                              f"{torch.as_tensor(out_mask)[16, 16].item()}; colour transforms "
                              f"must leave the mask alone")
    if not moved:
        raise CheckFailed(f"in {_DRAWS} draws the mask never moved: add geometric transforms "
                          f"(flips, RandomAffine)")
    if not brightened:
        raise CheckFailed(f"in {_DRAWS} draws the image's brightness never changed: add a "
                          f"photometric transform (ColorJitter)")
    _check_strengths(transform)
    passed("paired augmentation", 5)


def _parts(transform) -> list:
    inner = getattr(transform, "transforms", None)
    if isinstance(inner, list | tuple):
        return [part for t in inner for part in _parts(t)]
    return [transform]


def _close(got, want) -> bool:
    try:
        return len(got) == len(want) and all(abs(float(g) - w) < 1e-6
                                              for g, w in zip(got, want, strict=True))
    except TypeError:
        return False


def _check_strengths(transform) -> None:
    """The settings the task asks for: flips with p = 0.5, rotation up to 30 degrees,
    shifts up to 5 %, scale 0.9-1.1, bilinear image resampling, brightness and contrast
    0.2 (torchvision stores 0.2 as the factor range (0.8, 1.2))."""
    parts = _parts(transform)

    def one(kind):
        found = [p for p in parts if type(p) is kind]
        if len(found) != 1:
            raise CheckFailed(f"the pipeline holds {len(found)} v2.{kind.__name__}; the task "
                              f"asks for exactly one")
        return found[0]

    for kind in (v2.RandomHorizontalFlip, v2.RandomVerticalFlip):
        if abs(one(kind).p - 0.5) > 1e-9:
            raise CheckFailed(f"v2.{kind.__name__}(p={one(kind).p}): flip half of the time, "
                              f"p = 0.5")
    affine = one(v2.RandomAffine)
    for name, got, want, words in (
            ("degrees", affine.degrees, (-30.0, 30.0), "rotation up to 30 degrees"),
            ("translate", affine.translate, (0.05, 0.05), "shifts up to 5 %"),
            ("scale", affine.scale, (0.9, 1.1), "scale 0.9-1.1")):
        if not _close(got, want):
            raise CheckFailed(f"v2.RandomAffine's {name} is {got}; the task asks for {words}")
    if affine.interpolation != v2.InterpolationMode.BILINEAR:
        raise CheckFailed(f"v2.RandomAffine resamples the image with {affine.interpolation}; "
                          f"the task asks for interpolation=bilinear (the Mask stays nearest)")
    jitter = one(v2.ColorJitter)
    for name in ("brightness", "contrast"):
        if not _close(getattr(jitter, name), (0.8, 1.2)):
            raise CheckFailed(f"v2.ColorJitter's {name} is {getattr(jitter, name)}, a factor "
                              f"range; the task asks for {name}=0.2, the range (0.8, 1.2)")


# a toy facade: wall (id 1), a window at the upper left (id 2), a shop front along the bottom
# (id 11); no background (id 0), so that a 0 in the output can only be a fill value
_WALL, _WINDOW, _SHOP = 1, 2, 11
_GREY = {_WALL: 0.3, _WINDOW: 0.9, _SHOP: 0.6}
_FACADE_DRAWS = 40


def _toy_facade(size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    h, w = size
    labels = torch.full((h, w), _WALL, dtype=torch.long)
    labels[h // 6:h // 6 + h // 5, w // 8:w // 8 + w // 4] = _WINDOW
    labels[3 * h // 4:] = _SHOP
    image = torch.zeros(3, h, w)
    for label, grey in _GREY.items():
        image[:, labels == label] = grey
    return image, labels


def check_facade_augmentation(transform, size: tuple[int, int] = (48, 32)) -> None:
    """Check a paired pipeline for facade photos and labels ``(image, mask) -> (image, mask)``.

    On a toy facade (a window at the upper left, a shop front at the bottom), over 40 draws:
    the labels stay labels; pixels that a warp brings in from outside are labelled
    ``IGNORE_INDEX``, not 0 (a class); the facade is never turned upside down; it is
    mirrored left-right in some draw; image and mask move together; some draw warps it.
    """
    parts = _parts(transform)
    vertical = [p for p in parts if type(p) is v2.RandomVerticalFlip and p.p > 0]
    if vertical:
        raise CheckFailed(f"the pipeline holds v2.RandomVerticalFlip(p={vertical[0].p}): an "
                          f"upside-down facade (shops on top, windows below the cornices) is "
                          f"a layout no test photo has; leave vertical flips out")
    image, labels = _toy_facade(size)
    allowed = set(_GREY) | {IGNORE_INDEX}
    mirrored = warped = False
    for draw in range(_FACADE_DRAWS):
        torch.manual_seed(draw)
        try:
            out = transform(tv_tensors.Image(image.clone()), tv_tensors.Mask(labels.clone()))
        except NotImplementedError:
            raise
        except Exception as exc:
            raise CheckFailed(f"draw {draw}: the pipeline raised {type(exc).__name__}: {exc}") \
                from exc
        if not isinstance(out, tuple | list) or len(out) != 2:
            raise CheckFailed(f"draw {draw}: return the pair (image, mask), got "
                              f"{type(out).__name__}")
        out_image, out_mask = (torch.as_tensor(t) for t in out)
        if out_image.shape != image.shape or out_mask.shape != labels.shape:
            raise CheckFailed(f"draw {draw}: shapes changed from {tuple(image.shape)} and "
                              f"{tuple(labels.shape)} to {tuple(out_image.shape)} and "
                              f"{tuple(out_mask.shape)}; keep the size")
        values = set(torch.unique(out_mask).tolist())
        if 0 in values:
            raise CheckFailed(f"draw {draw}: pixels brought in from outside the photo got "
                              f"label 0, which is a class (background): the network would "
                              f"learn that the border of a warped photo is background. Fill the "
                              f"Mask with IGNORE_INDEX ({IGNORE_INDEX}), e.g. fill={{"
                              f"tv_tensors.Image: 0.0, tv_tensors.Mask: {IGNORE_INDEX}}}")
        if not values <= allowed:
            raise CheckFailed(f"draw {draw}: the mask holds values {sorted(values - allowed)[:6]} "
                              f"that are no class id: masks must be resampled "
                              f"nearest-neighbour; pass them as tv_tensors.Mask")
        rows = torch.arange(size[0], dtype=torch.float)[:, None].expand(size)
        cols = torch.arange(size[1], dtype=torch.float)[None, :].expand(size)
        shop, wall, window = (out_mask == _SHOP), (out_mask == _WALL), (out_mask == _WINDOW)
        if shop.any() and wall.any() and rows[shop].mean() < rows[wall].mean():
            raise CheckFailed(f"draw {draw}: the facade came out upside down (the shop front "
                              f"above the wall): a vertical flip, or a rotation far too "
                              f"large; keep rotations to a few degrees")
        if window.any():
            mirrored |= bool(cols[window].mean() > size[1] / 2)
            grey = out_image.float().mean(0)
            # halfway between the window and the brightest other class (the shop front)
            brightest = max(grey[m].mean() for m in (shop, wall) if m.any())
            level = (grey[window].mean() + brightest) / 2
            overlap = _iou((grey > level) & (out_mask != IGNORE_INDEX), window)
            if overlap < 0.7:
                raise CheckFailed(f"draw {draw}: the bright window in the image and the window "
                                  f"in the mask overlap with IoU {overlap:.2f} only: image and "
                                  f"mask were not moved together; pass both in ONE call")
        warped |= IGNORE_INDEX in values
    if not mirrored:
        raise CheckFailed(f"in {_FACADE_DRAWS} draws the facade was never mirrored: a facade "
                          f"seen in a mirror is still a plausible facade, so a horizontal flip "
                          f"is free extra data; add v2.RandomHorizontalFlip()")
    if not warped:
        raise CheckFailed(f"in {_FACADE_DRAWS} draws no pixel came in from outside the photo: "
                          f"add a small v2.RandomAffine (a few degrees, a few per cent of "
                          f"shift, mild scaling)")
    passed("facade augmentation", 6)
