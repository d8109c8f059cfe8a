"""Class names, colour palette and ignore index of the CMP Facade Database (base set).

Label PNGs store class ids 1..12 (0 is unused); train on ``id - 1``. Entry ``i`` of
both lists belongs to class id ``i + 1``.
"""

NUM_FACADE_CLASSES = 12

# The target value of pixels that belong to no class (the padding of a resized facade): every
# loss, metric, check and plot of a multi-class target skips it, as torch's ``ignore_index``.
IGNORE_INDEX = 255

FACADE_CLASSES = [
    "background", "facade", "window", "door", "cornice", "sill",
    "balcony", "blind", "deco", "molding", "pillar", "shop",
]

FACADE_PALETTE = [
    (0, 0, 170), (0, 0, 255), (0, 85, 255), (0, 170, 255), (0, 255, 255), (85, 255, 170),
    (170, 255, 85), (255, 255, 0), (255, 170, 0), (255, 85, 0), (255, 0, 0), (170, 0, 0),
]
