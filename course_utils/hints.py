"""Plain-language hints under the tracebacks students meet most often.

A lesson's first cell turns them on with ``from course_utils import hints; hints.install()``.
Then a cell that fails with one of these errors shows IPython's traceback as always, first and
unchanged, followed by two or three lines on what usually went wrong and the usual fix: device
mismatch, target dtype, logits and target shapes, logits where probabilities are expected,
target values out of range, out of memory. Every other exception is shown exactly as before.
:func:`explain` does the matching, on the messages torch itself raises.

Not covered on purpose: a sigmoid before ``BCEWithLogitsLoss`` (or a softmax before
``cross_entropy``) raises nothing and only trains badly. With no exception there is nothing to
hang a hint on, and a warning would have to guess from the values.
"""

from __future__ import annotations

import functools
import re
import sys
import textwrap

__all__ = ["explain", "install", "uninstall"]

_MARK = "_course_hints_previous"
# Code in `backticks` is never broken across lines.
_OOM = ("out of memory: this step needs more memory than the device has left. Lower BATCH_SIZE "
        "(or SIZE, WIDTH), evaluate under `torch.no_grad()`, free what you no longer need "
        "(`del model, optimizer`, then `torch.cuda.empty_cache()`), or restart the kernel.")
_DEVICE = ("device mismatch: the model and every tensor it meets must be on one device, and here "
           "some are on the GPU and some on the CPU. Move the model with `model.to(DEVICE)` and "
           "each batch with `x.to(DEVICE)`, `target.to(DEVICE)` (a loss holding weights too).")
_DTYPE = ("dtype: the tensors in this operation have different dtypes. Models compute in float32: "
          "convert inputs with `x.float()` (NumPy arrays arrive as float64; uint8 images also "
          "need scaling to 0..1).")
_TARGET_DTYPE = ("target dtype: cross_entropy wants class indices as int64 (`target.long()`); BCE "
                 "losses and Dice want float masks of 0s and 1s (`target.float()`). (Outside a "
                 "loss: a float result written in place into an integer tensor.)")
_MEAN = ("dtype: mean() needs floating point, and this is a mask or a comparison (bool or int). "
         "Convert it first: `(pred == target).float().mean()`.")
_CE_PROBS = ("shape: cross_entropy reads a target shaped like the logits as class probabilities, "
             "which must be float. Class indices have no channel dim: (N, H, W) int64, e.g. "
             "`target.squeeze(1).long()`. A one-channel (binary) model wants BCEWithLogitsLoss.")
_BCE_SHAPE = ("shape: BCE compares logits and target pixel by pixel, so their shapes must be "
              "equal. A binary model returns (N, 1, H, W), masks often come as (N, H, W): "
              "`target.unsqueeze(1).float()`. If H, W differ, check padding and pooling.")
_CE_SHAPE = ("shape: cross_entropy wants logits (N, C, H, W) and class indices (N, H, W) int64, "
             "with no channel dim in the target: a mask of shape (N, 1, H, W) needs "
             "`target.squeeze(1).long()`.")
_SIZE = ("shape: logits and target do not cover the same pixels. The model must return the "
         "image's H and W (check its padding and pooling); flatten both alike, "
         "`logits.permute(0, 2, 3, 1).reshape(-1, C)` with `target.reshape(-1)`.")
_PROBS = ("logits vs probabilities: binary_cross_entropy (BCELoss) takes probabilities and got "
          "values outside 0..1, i.e. logits. Use BCEWithLogitsLoss on the logits instead. The "
          "reverse slip, a sigmoid before BCEWithLogitsLoss, raises nothing: it trains badly.")
_MASK_RANGE = ("target values: BCE targets must lie in 0..1, and masks saved as images often "
               "hold 0 and 255. Use `target = (mask > 0).float()`.")
_CLASS_RANGE = ("target values: a class index lies outside 0..C-1 for C output channels (255 is "
                "the usual 'ignore' label). Pass `ignore_index=255` to the loss, or remap labels.")
_GPU_ASSERT = ("GPU assert: a GPU kernel failed a check, most often a cross_entropy target outside "
               "0..C-1. Restart the kernel (the GPU is unusable until then) and rerun with "
               "`DEVICE = config.get_device('cpu')` for a readable error.")

# (pattern on str(exc), hint); the first match wins, so specific patterns come first.
_RULES = [
    (r"out of memory|can't allocate memory", _OOM),
    (r"device-side assert triggered", _GPU_ASSERT),
    (r"Expected all tensors to be on the same device|is not on the expected device", _DEVICE),
    (r"all elements of input should be between 0 and 1", _PROBS),
    (r"all elements of target should be between 0 and 1", _MASK_RANGE),
    (r"Target -?\d+ is out of bounds", _CLASS_RANGE),
    (r"target with class probabilities, got", _CE_PROBS),
    (r"Target size \(.*\) must be the same as input size|Using a target size", _BCE_SHAPE),
    (r"only batches of spatial targets supported|0D or 1D target tensor expected", _CE_SHAPE),
    (r"size mismatch \(got input|Expected target size|Expected input batch_size", _SIZE),
    (r"can't be cast to the desired output type|Found dtype \w+ but expected"
     r"|expected target dtype to be|expected scalar type (Long|\w+ but found Long)", _TARGET_DTYPE),
    (r"mean\(\): could not infer output dtype", _MEAN),
    (r"expected scalar type \w+ but found|must have the same dtype", _DTYPE),
]
_TYPES = re.compile(r"Input type \((.+?)\) and (?:weight|bias) type \((.+?)\) should be the same")


def _on_gpu(type_name: str) -> bool:
    return re.search(r"cuda|mps", type_name, re.IGNORECASE) is not None


def explain(exc: BaseException) -> str | None:
    """"Hint, <kind>: ..." in two or three lines naming the usual fix, or None if unknown.

    Only ``RuntimeError`` (torch's ``OutOfMemoryError`` is one), ``ValueError`` and
    ``IndexError`` are read, so a check's ``AssertionError`` quoting a message is left alone.
    """
    if not isinstance(exc, (RuntimeError, ValueError, IndexError)):
        return None
    message = str(exc)
    hint = None
    types = _TYPES.search(message)
    if types:
        # One message for both slips: "torch.cuda.FloatTensor" vs "torch.FloatTensor" is the
        # device, "double" vs "float" the dtype.
        hint = _DEVICE if _on_gpu(types[1]) != _on_gpu(types[2]) else _DTYPE
    else:
        hint = next((h for pattern, h in _RULES if re.search(pattern, message)), None)
    if hint is None:
        return None
    text = re.sub(r"`[^`]*`", lambda code: code[0].replace(" ", "\0"), "Hint, " + hint)
    return textwrap.fill(text, width=92, break_on_hyphens=False).replace("\0", " ")


def _running_shell():
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    return get_ipython()


def install(shell=None) -> bool:
    """Print the hint of :func:`explain` under each traceback shown by IPython's ``shell``.

    Wraps ``shell.showtraceback``: IPython renders and prints the traceback exactly as before,
    then the hint follows. (``set_custom_exc`` would take IPython's single custom-handler slot
    and make the handler redo IPython's display.) Installing twice changes nothing.

    Returns:
        True once the hints are on (``shell`` defaults to the running one). False outside
        IPython (plain Python, a script, pytest), where it does nothing at all.
    """
    shell = shell or _running_shell()
    if shell is None:
        return False
    if hasattr(shell.showtraceback, _MARK):
        return True
    original = shell.showtraceback

    @functools.wraps(original)
    def showtraceback(*args, **kwargs):
        original(*args, **kwargs)
        # IPython shows the exception passed in, else the one being handled, else the last one.
        exc_tuple = args[0] if args else kwargs.get("exc_tuple")
        exc = exc_tuple[1] if exc_tuple else sys.exc_info()[1] or getattr(sys, "last_value", None)
        try:
            hint = explain(exc) if exc is not None else None
        except Exception:  # a hint must never add an error of its own
            hint = None
        if hint:
            print("\n" + hint)  # in Jupyter: a stream output right below the error

    setattr(showtraceback, _MARK, vars(shell).get("showtraceback"))
    shell.showtraceback = showtraceback
    return True


def uninstall(shell=None) -> bool:
    """Undo :func:`install`. Returns True if hints were on and are now off, else False."""
    shell = shell or _running_shell()
    if shell is None or not hasattr(shell.showtraceback, _MARK):
        return False
    previous = getattr(shell.showtraceback, _MARK)
    if previous is None:
        del shell.showtraceback  # back to the class's own method
    else:
        shell.showtraceback = previous
    return True
