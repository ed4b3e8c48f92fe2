"""Language identification: tocsin's detector beside py3langid and lingua, in one run.

    python bench/language.py --data DIR [--limit N] [--engines NAME ...] [--cpu K]

DIR holds one folder per language (``english/`` or ``en/``...), each with ``val_text.txt``
(the layout of ``shared/data/sentiment``). Every engine sees the same texts; all but
``py3langid raw`` see them cleaned by `tocsin.enrich.language.clean` (no URLs, handles,
``#``). The process is pinned to one CPU (``--cpu``) and models are loaded before timing.

Engines:

* ``tocsin``            `tocsin.enrich.language.detect`: py3langid over its labels with an
                        ISO 639-1 code, float32 weights, romanised-Hindi rule, cleaning;
* ``py3langid raw``     py3langid, all 140 labels, on the raw text (the library as shipped);
* ``py3langid``         the same on cleaned text;
* ``py3langid 8``       restricted to the data's languages (an upper bound: it knows the
                        answer is one of them);
* ``lingua high|low``   lingua-language-detector, all 75 languages, high / low accuracy mode;
* ``lingua 8 high|low`` lingua restricted to the data's languages.

Accuracy counts a text right when the engine names the folder's language; no answer is
wrong. Speed is texts per second on one core, ratio against ``tocsin``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from tocsin.enrich.language import LanguageOptions, clean, detect, warm_up
from tocsin.enrich.language_eval import LanguageEvalError, load_dataset

Engine = Callable[[Sequence[str]], list[str | None]]


def _tocsin() -> Engine:
    warm_up()
    options = LanguageOptions()
    return lambda texts: [lang for lang, _ in detect(texts, options)]


def _py3langid(langs: Sequence[str] | None, cleaned: bool) -> Engine:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    ident = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    if langs:
        ident.set_languages(list(langs))
    prep = clean if cleaned else (lambda t: t)
    return lambda texts: [str(ident.classify(prep(t))[0]) for t in texts]


def _lingua(langs: Sequence[str] | None, low: bool) -> Engine:
    from lingua import IsoCode639_1, Language, LanguageDetectorBuilder

    if langs:
        chosen = [Language.from_iso_code_639_1(getattr(IsoCode639_1, c.upper())) for c in langs]
        builder = LanguageDetectorBuilder.from_languages(*chosen)
    else:
        builder = LanguageDetectorBuilder.from_all_languages()
    if low:
        builder = builder.with_low_accuracy_mode()
    detector = builder.with_preloaded_language_models().build()

    def run(texts: Sequence[str]) -> list[str | None]:
        out: list[str | None] = []
        for text in texts:
            lang = detector.detect_language_of(clean(text))
            out.append(lang.iso_code_639_1.name.lower() if lang else None)
        return out

    return run


def _engines(langs: list[str]) -> dict[str, Callable[[], Engine]]:
    return {
        "tocsin": _tocsin,
        "py3langid raw": lambda: _py3langid(None, cleaned=False),
        "py3langid": lambda: _py3langid(None, cleaned=True),
        "py3langid 8": lambda: _py3langid(langs, cleaned=True),
        "lingua high": lambda: _lingua(None, low=False),
        "lingua low": lambda: _lingua(None, low=True),
        "lingua 8 high": lambda: _lingua(langs, low=False),
        "lingua 8 low": lambda: _lingua(langs, low=True),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Run the engines side by side and print one row each."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, type=Path, help="folder of language folders")
    parser.add_argument("--limit", type=int, default=None, help="texts per language at most")
    parser.add_argument("--engines", nargs="*", default=None, help="engines to run (default all)")
    parser.add_argument("--cpu", type=int, default=0, help="CPU to pin the process to")
    args = parser.parse_args(argv)
    try:
        data = load_dataset(args.data)
    except LanguageEvalError as exc:
        print(exc, file=sys.stderr)
        return 2
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu})
    langs = sorted(data)
    texts = {code: ts[: args.limit] if args.limit else ts for code, (_, ts) in data.items()}
    engines = _engines(langs)
    chosen = args.engines or list(engines)
    unknown = [e for e in chosen if e not in engines]
    if unknown:
        parser.error(f"unknown engine(s) {unknown}; choose among {list(engines)}")
    total = sum(len(ts) for ts in texts.values())
    print(f"{total} texts, {len(langs)} languages, one core (CPU {args.cpu})\n")
    header = f"{'engine':<14} {'texts/s':>8} {'ratio':>6} {'all':>6} " + " ".join(
        f"{c:>5}" for c in langs
    )
    print(header)
    base: float | None = None
    for name in chosen:
        run = engines[name]()
        run(["warm up"])
        correct: dict[str, int] = {}
        seconds = 0.0
        for code, ts in texts.items():
            start = time.perf_counter()
            found = run(ts)
            seconds += time.perf_counter() - start
            correct[code] = sum(1 for lang in found if lang == code)
        speed = total / seconds
        base = base or speed
        accuracy = sum(correct.values()) / total
        cells = " ".join(f"{correct[c] / len(texts[c]):>5.1%}" for c in langs)
        print(f"{name:<14} {speed:>8,.0f} {speed / base:>5.2f}x {accuracy:>6.1%} {cells}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
