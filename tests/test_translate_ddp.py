"""DistributedDataParallel: two CPU processes (gloo) train one step and end with identical weights."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

REPO = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _worker(
    rank: int, world: int, port: int, corpus_dir: str, run_dir: str, out_dir: str, cache: str, method: str
) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        WORLD_SIZE=str(world),
        LOCAL_RANK=str(rank),
    )
    os.environ["CULTURALSTYLE_CACHE"] = cache
    torch.set_num_threads(1)
    import torch.distributed as dist

    from culturalstyle.corpus import Corpus
    from culturalstyle.translate import train as T
    from culturalstyle.translate.config import make_config

    config = make_config(
        "smoke",
        source="ukiyo_e",
        target="renaissance",
        device="cpu",  # the gloo test runs on CPU even where CUDA exists
        method=method,
        steps=1,
        steps_decay=0,
        progress=False,
        tensorboard=False,
    )
    corpus = Corpus.load(corpus_dir)
    trainer = T.Engine(config, corpus, run_dir)
    assert dist.is_initialized() and trainer.world_size == world and trainer.rank == rank
    before = {k: v.clone() for k, v in trainer.model.generator("A2B").state_dict().items()}
    a, _ = trainer.data.batch(0)
    trainer.run()
    state = {
        "models": {name: net.state_dict() for name, net in trainer.nets.items()},
        "before": before,
        "first_A": a,
        "indices": trainer.data.indices(0),
    }
    torch.save(state, Path(out_dir) / f"rank{rank}.pt")
    dist.barrier()
    dist.destroy_process_group()


@pytest.fixture
def small_corpus_dir(tmp_path) -> Path:
    import pandas as pd

    from culturalstyle.corpus import Corpus

    full = Corpus.load(REPO / "data" / "sample")
    rows = [
        full.df[(full.df.culture == c) & (full.df.split == "train")].sort_values("image_id").head(4)
        for c in ("ukiyo_e", "renaissance")
    ]
    Corpus(pd.concat(rows), full.root).save(tmp_path / "corpus")
    return tmp_path / "corpus"


GENERATOR = {"cyclegan": "G_AB", "cut": "G", "fastcut": "G"}
NETWORKS = {
    "cyclegan": {"G_AB", "G_BA", "D_A", "D_B"},
    "cut": {"G", "F", "D_B"},
    "fastcut": {"G", "F", "D_B"},
}


@pytest.mark.parametrize("method", ["cyclegan", "cut", "fastcut"])
def test_two_gloo_processes_hold_identical_weights_after_a_step(tmp_path, small_corpus_dir, method):
    out = tmp_path / "out"
    out.mkdir()
    run_dir = tmp_path / "run"
    cache = os.environ["CULTURALSTYLE_CACHE"]
    mp.spawn(
        _worker,
        args=(2, _free_port(), str(small_corpus_dir), str(run_dir), str(out), cache, method),
        nprocs=2,
        join=True,
    )

    r0 = torch.load(out / "rank0.pt", weights_only=True)
    r1 = torch.load(out / "rank1.pt", weights_only=True)
    # the ranks trained on different images ...
    assert r0["indices"] != r1["indices"]
    assert not torch.equal(r0["first_A"], r1["first_A"])
    # ... yet, with gradients averaged by DDP, hold the same weights, which did change
    assert set(r0["models"]) == NETWORKS[method]
    for name in NETWORKS[method]:
        for key, tensor in r0["models"][name].items():
            assert torch.equal(tensor, r1["models"][name][key]), (name, key)
    generator = GENERATOR[method]
    assert torch.equal(r0["before"]["model.1.weight"], r1["before"]["model.1.weight"])
    assert not torch.equal(r0["before"]["model.1.weight"], r0["models"][generator]["model.1.weight"])
    # rank 0 wrote the checkpoint, holding both ranks' pools and RNG states
    from culturalstyle.translate import train as T

    state, _ = T.load_checkpoint(run_dir)
    assert state["world_size"] == 2 and len(state["ranks"]) == 2
    assert state["method"] == method
    assert torch.equal(
        state["models"][generator]["model.1.weight"], r0["models"][generator]["model.1.weight"]
    )
