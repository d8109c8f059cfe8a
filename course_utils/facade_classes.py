"""Class names and colour palette of the CMP Facade Database (base set).

Label PNGs store class ids 1..12 (0 is unused); train on ``id - 1``. Entry ``i`` of
both lists belongs to class id ``i + 1``.
"""

NUM_FACADE_CLASSES = 12

FACADE_CLASSES = [
    "background", "facade", "window", "door", "cornice", "sill",
    "balcony", "blind", "deco", "molding", "pillar", "shop",
]

FACADE_PALETTE = [
    (0, 0, 170), (0, 0, 255), (0, 85, 255), (0, 170, 255), (0, 255, 255), (85, 255, 170),
    (170, 255, 85), (255, 255, 0), (255, 170, 0), (255, 85, 0), (255, 0, 0), (170, 0, 0),
]
