"""Read a student's answer cell, as text, for what a graded answer may not contain.

The grader parses the source (it never runs it here) and refuses, with a reason, an
answer that:

- hands the task to the package's reference, a check's helper, or the one library call
  the task is about (``FORBIDDEN``: per task, names that may not appear as an attribute or
  an imported name, nor inside a string when they are code names such as ``DiceLoss``);
- imports outside the modules a lesson works with (``IMPORTABLE``), or a private module;
- reaches for the machinery that could change the grading process from inside: dynamic
  code and attribute access (``exec``, ``getattr``, ...), files, frames, private or dunder
  attributes of other objects, ``global``, and assignments to attributes of anything but
  ``self``.

Only names the parser sees are checked, so the rules are strict where cheating needs
indirection (``getattr``, strings) and silent about everything a loss or a network needs.
"""

from __future__ import annotations

import ast

__all__ = ["FORBIDDEN", "IMPORTABLE", "screen"]

BCE_CALLS = {"binary_cross_entropy_with_logits", "binary_cross_entropy", "BCEWithLogitsLoss",
             "BCELoss", "softplus", "Softplus", "logsigmoid", "LogSigmoid", "log_sigmoid",
             "logaddexp", "stable_bce_with_logits", "bce_simplified", "bce_stable"}
METRICS = {"binary_metrics", "dice_score", "iou_score", "accuracy", "sensitivity",
           "specificity", "precision", "f1_score", "precision_score", "recall_score",
           "jaccard_score", "confusion_matrix"}

# The answer cell's grade id -> what its answer may not use.
FORBIDDEN: dict[str, set[str]] = {
    "00-foreground_fraction": {"foreground_fraction"},
    "00-all_background_accuracy": {"all_background_accuracy", "accuracy", "binary_metrics"},
    "01-bce_simplified": BCE_CALLS,
    "01-bce_stable": BCE_CALLS,
    "01-breaking_logits": {"breaking_logits"},
    "01-train_one_epoch": {"train_one_epoch", "fit", "train_model"},
    "01-evaluate": {"evaluate", "test_scores", "predict"},
    "02-DiceLoss": {"DiceLoss", "dice_loss"},
    "02-dice_gradient": {"dice_gradient", "DiceLoss", "dice_loss", "autograd", "grad",
                         "backward", "vjp", "jacobian", "functional_call"},
    "02-JaccardLoss": {"JaccardLoss", "jaccard_loss"},
    "02-FocalLoss": {"FocalLoss", "focal_loss", "sigmoid_focal_loss", "focal_weight"},
    "02-BCELoss_TotalVariation": {"BCELoss_TotalVariation", "total_variation"},
    "02-CenteredLoss": {"CenteredLoss", "SparsityLoss"},
    "03-UNet": {"UNet", "UNet2", "VGG16UNet"},
    "03-center_crop": {"center_crop", "CenterCrop", "crop", "center_crop_to"},
    "04-conv_output_size": {"Conv1d", "Conv2d", "ConvTranspose1d", "ConvTranspose2d",
                            "conv1d", "conv2d", "conv_transpose1d", "conv_transpose2d"},
    "04-conv_matrix": set(),
    "04-UNet2": {"UNet", "UNet2", "VGG16UNet"},
    "05-receptive_field": {"receptive_field"},
    "05-effective_radius": {"effective_radius", "check_effective_radius", "gradient_mass"},
    "05-DilatedNet": {"DilatedNet"},
    "05-ASPP": {"ASPP", "DeepLabHead", "deeplabv3_resnet50"},
    "06-class_counts": {"class_counts"},
    "06-cross_entropy": {"cross_entropy", "CrossEntropyLoss", "nll_loss", "NLLLoss"},
    "06-one_hot": set(),
    "06-class_weights": {"class_weights", "compute_class_weight"},
    "06-mean_iou": {"mean_iou", "check_mean_iou", "per_class_iou", "iou_from_confusion",
                    "ConfusionMatrix", "confusion_matrix", "jaccard_score", "MeanIoU"},
    "07-binary_metrics": METRICS,
    "07-hausdorff": {"hausdorff", "hausdorff_distance", "directed_hausdorff"},
    "07-count_holes": {"count_components", "count_holes", "topology", "euler_number"},
    "07-instance_f1": {"instance_f1", "check_instance_f1", "count_components", "topology",
                       "average_precision", "panoptic_quality"},
    "08-make_facade_augmentation": {"paired_augmentation", "BatchAugment",
                                    "check_facade_augmentation"},
    "08-split_instances": {"split_instances"},
}

IMPORTABLE = {"__future__", "abc", "collections", "copy", "course_utils", "dataclasses", "enum",
              "functools", "itertools", "math", "numbers", "numpy", "operator", "scipy",
              "statistics", "torch", "torchvision", "typing"}
# Inside an importable package: the graders' and the checks' modules, and low-level torch.
CLOSED_MODULES = {"checks", "grading", "instructor", "hints", "ops", "library", "overrides",
                  "multiprocessing", "hub", "cpp_extension", "ctypeslib", "distributed"}
BUILTINS = {"__import__", "breakpoint", "compile", "delattr", "dir", "eval", "exec", "exit",
            "getattr", "globals", "help", "input", "locals", "open", "quit", "setattr", "vars",
            "memoryview", "__builtins__", "__build_class__", "__loader__", "__spec__"}
ATTRIBUTES = CLOSED_MODULES | {
    "load", "save", "fromfile", "tofile", "loadtxt", "savetxt", "genfromtxt", "memmap",
    "from_file", "system", "popen", "tb_frame", "tb_next", "f_back", "f_locals", "f_globals",
    "f_builtins", "f_code", "gi_frame", "cr_frame", "ag_frame", "gi_code", "co_code",
    "modules", "meta_path", "path_hooks"}
OWN = {"self", "cls"}


def _root(node: ast.AST) -> ast.AST:
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node


def _module_problem(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] not in IMPORTABLE:
        return f"imports {module!r} (an answer may import only {', '.join(sorted(IMPORTABLE))})"
    closed = [p for p in parts[1:] if p in CLOSED_MODULES or p.startswith("_")]
    if closed:
        return f"imports {module!r}, which answers may not use"
    return None


def _node_problems(node: ast.AST, forbidden: set[str]) -> list[str]:
    found = []
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                found.append("uses a relative import")
            found.append(_module_problem(node.module or ""))
            for alias in node.names:
                if alias.name == "*":
                    found.append(f"imports * from {node.module!r}")
                elif alias.name in forbidden:
                    found.append(f"imports {alias.name!r}, the work this task asks for")
                elif alias.name in CLOSED_MODULES or alias.name.startswith("_"):
                    found.append(f"imports {alias.name!r} from {node.module!r}")
        else:
            for alias in node.names:
                found.append(_module_problem(alias.name))
                if forbidden & set(alias.name.split(".")):
                    found.append(f"imports {alias.name!r}, the work this task asks for")
    elif isinstance(node, ast.Name) and node.id in BUILTINS:
        found.append(f"uses {node.id!r}")
    elif isinstance(node, ast.Attribute):
        own = isinstance(_root(node), ast.Name) and _root(node).id in OWN
        if node.attr in forbidden:
            found.append(f"uses .{node.attr}, the work this task asks for")
        elif node.attr in ATTRIBUTES:
            found.append(f"uses .{node.attr}")
        elif node.attr.startswith("_") and not own and node.attr != "__init__":
            found.append(f"uses the private attribute .{node.attr}")
        if isinstance(node.ctx, (ast.Store, ast.Del)) and not own:
            found.append(f"changes .{node.attr} of an object that is not its own "
                         f"(only self.<name> may be assigned)")
    elif isinstance(node, ast.Constant) and isinstance(node.value, str):
        # a name or a dotted path (no prose, such as a stub's hint), and a code name only
        # ("accuracy" is also a fine dictionary key)
        hits = sorted(name for name in forbidden if name in node.value
                      and not any(c.isspace() for c in node.value)
                      and (name != name.lower() or "_" in name))
        if hits:
            found.append(f"names {hits[0]!r} in a string, the work this task asks for")
    elif isinstance(node, ast.Global):
        found.append("uses 'global'")
    return [f for f in found if f]


def screen(source: str, grade_id: str) -> list[str]:
    """The reasons ``source`` (an answer cell) may not be graded as the task ``grade_id``;
    empty when it may. A cell that does not parse is not refused here: it fails its test."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    forbidden = FORBIDDEN.get(grade_id, set())
    reasons = []
    for node in ast.walk(tree):
        for reason in _node_problems(node, forbidden):
            line = f"line {getattr(node, 'lineno', '?')}: {reason}"
            if line not in reasons:
                reasons.append(line)
    return reasons
