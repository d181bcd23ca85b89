"""What a run loads: no architecture for absent weights, no diffusion stack for the fast engine."""

from __future__ import annotations

import subprocess
import sys

from masque.embedders import registry


def test_models_whose_weights_are_absent_are_never_built(tmp_path, monkeypatch):
    """`present_embedders` and the evaluation/check loader check files first: with an empty $MASQUE_HOME only the
    models whose files exist (dlib, from its package) have their builder called."""
    from masque.evaluation.zoo import load_models

    monkeypatch.setenv("MASQUE_HOME", str(tmp_path))
    built = []
    for name, builder in list(registry._BUILDERS.items()):
        monkeypatch.setitem(registry._BUILDERS, name, lambda spec, b=builder: built.append(spec.name) or b(spec))
    present = registry.present_embedders()
    assert "dlib" in present and not any(n in present for n in ("ir152", "irse50", "facenet", "mobileface"))
    assert built == []  # a file check, nothing built
    models, records = load_models(None)
    assert sorted(built) == sorted(present) == sorted(models)
    assert {r.name for r in records if not r.available} >= {"ir152", "irse50", "facenet", "mobileface"}


def test_fast_engine_path_does_not_import_the_diffusion_stack():
    """Building the parametric engine and the protect pipeline imports neither diffusers nor transformers."""
    code = ("import sys\n"
            "from masque.api import Protector\n"
            "p = Protector('red lipstick', engine='parametric', surrogates=['tiny-random'], judges=['tiny-random'],"
            " dlib_bin=False)\n"
            "print(sorted(m for m in ('diffusers', 'transformers', 'huggingface_hub') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
