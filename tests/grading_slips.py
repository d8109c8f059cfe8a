"""Typical slips, one or more per lesson, for the nbgrader round trip
(tests/test_grading_roundtrip.py): the student ``cy`` hands in the solutions with these
mistakes, and must lose exactly the points of ``failing_tests``.

A slip replaces one solution region of one solution cell: ``index`` counts the cell's
regions from 0; ``region`` is what the student wrote there, indented as the region.
``message`` is a piece of the check's message that the feedback HTML must show.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Slip:
    solution_id: str
    region: str
    failing_tests: tuple[str, ...]
    message: str
    index: int = 0


SLIPS: dict[str, tuple[Slip, ...]] = {
    "00-setup-and-data": (
        # one fraction for the whole batch instead of one per image
        Slip("00-foreground_fraction", "    return masks.float().mean()",
             ("00-test-foreground_fraction",), "two masks: expected shape (2,), got (1,)"),
    ),
    "01-encoder-decoder-bce": (
        # the simplified form handed in where the stable one is asked
        Slip("01-bce_stable",
             "    return logits - logits * target + torch.log(1 + torch.exp(-logits))",
             ("01-test-bce_stable",), "stable BCE at logit x = -1000, target y = 0 (float32): got inf, expected 0"),
    ),
    "02-dice-focal-tv": (
        # Dice on logits: the sigmoid forgotten
        Slip("02-DiceLoss",
             "        probs = logits\n"
             "        dims = (1, 2, 3)\n"
             "        numerator = 2 * (probs * target).mean(dims) + self.smooth\n"
             "        denominator = (probs + target).mean(dims) + self.smooth\n"
             "        return (1 - numerator / denominator).mean()",
             ("02-test-DiceLoss",), "a perfect prediction (probabilities exactly 0 and 1): expected 0"),
    ),
    "03-unet-skip-connections": (
        # the encoder-decoder's forward pass: no skip is concatenated
        Slip("03-UNet",
             "        for conv in self.encoder:\n"
             "            x = self.pool(conv(x))\n"
             "        x = self.bottleneck(x)\n"
             "        for conv in self.decoder:\n"
             "            x = conv(self.up(x))\n"
             "        return self.head(self.up(x))",
             ("03-test-UNet",), "expected input[2, 8, 2, 2] to have 16 channels, but got 8 channels instead", index=1),
    ),
    "04-strided-vs-pooled": (
        # the transposed size without output_padding
        Slip("04-conv_output_size",
             "    return (size - 1) * stride - 2 * padding + dilation * (kernel_size - 1) + 1",
             ("04-test-conv_output_size",), "disagree [('transposed',", index=1),
    ),
    "05-dilated-convolutions": (
        # strides forgotten: every layer adds d(k - 1) input pixels
        Slip("05-receptive_field",
             "    n = len(kernel_sizes)\n"
             "    dilations = [1] * n if dilations is None else dilations\n"
             "    return 1 + sum(d * (k - 1) for k, d in zip(kernel_sizes, dilations))",
             ("05-test-receptive_field",), "It looks as if the strides are ignored"),
    ),
    "06-multiclass-facades": (
        # the ignored pixels (255) counted as a class
        Slip("06-class_counts",
             "    return torch.bincount(targets.flatten().long(), minlength=num_classes)",
             ("06-test-class_counts",), "padding (255) is not counted: expected shape (2,), got (256,)"),
    ),
    "07-evaluation-thresholds": (
        # the outside counted as a hole
        Slip("07-count_holes",
             "    background = np.pad(~np.asarray(mask, dtype=bool), 1, constant_values=True)\n"
             "    return int(ndimage.label(background, FOUR)[1])",
             ("07-test-count_holes",), "an empty mask: expected 0 holes, got 1"),
    ),
    "08-further-thoughts": (
        # components instead of instances: touching cells stay one
        Slip("08-split_instances", "    return ndimage.label(mask)[0]",
             ("08-test-split_instances",), "two touching discs: expected 2 instance(s), found 1"),
    ),
}
