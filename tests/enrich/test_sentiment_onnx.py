"""The ONNX sentiment backend, on a tiny random model built here (no download)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tocsin.enrich.sentiment import classify
from tocsin.enrich.sentiment_onnx import OnnxSentimentModel, label_columns

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
tokenizers = pytest.importorskip("tokenizers")

VOCAB = ["[PAD]", "[UNK]", "good", "bad", "service", "the", "is", "not"]


def _tokenizer(path: Path) -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {word: i for i, word in enumerate(VOCAB)}
    tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.save(str(path))


def _model(path: Path, outputs: int = 3, seed: int = 0) -> None:
    """embedding -> masked mean pool -> linear -> `outputs` logits."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    dim = 4
    embedding = rng.normal(size=(len(VOCAB), dim)).astype(np.float32)
    weight = rng.normal(size=(dim, outputs)).astype(np.float32)
    bias = rng.normal(size=(outputs,)).astype(np.float32)
    nodes = [
        helper.make_node("Gather", ["embedding", "input_ids"], ["embedded"]),
        helper.make_node("Cast", ["attention_mask"], ["mask"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["mask", "axis2"], ["mask3"]),
        helper.make_node("Mul", ["embedded", "mask3"], ["masked"]),
        helper.make_node("ReduceSum", ["masked", "axis1"], ["summed"], keepdims=0),
        helper.make_node("ReduceSum", ["mask3", "axis1"], ["count"], keepdims=0),
        helper.make_node("Max", ["count", "one"], ["safe_count"]),
        helper.make_node("Div", ["summed", "safe_count"], ["pooled"]),
        helper.make_node("MatMul", ["pooled", "weight"], ["projected"]),
        helper.make_node("Add", ["projected", "bias"], ["logits"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny-sentiment",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "length"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "length"]),
        ],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", outputs])],
        initializer=[
            numpy_helper.from_array(embedding, "embedding"),
            numpy_helper.from_array(weight, "weight"),
            numpy_helper.from_array(bias, "bias"),
            numpy_helper.from_array(np.array([2], dtype=np.int64), "axis2"),
            numpy_helper.from_array(np.array([1], dtype=np.int64), "axis1"),
            numpy_helper.from_array(np.array([1.0], dtype=np.float32), "one"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "tiny"
    folder.mkdir()
    _model(folder / "model.onnx")
    _tokenizer(folder / "tokenizer.json")
    config = {"id2label": {"0": "positive", "1": "negative", "2": "neutral"}, "pad_token_id": 0}
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    return folder


def test_tiny_model_gives_probabilities_in_our_label_order(model_dir: Path) -> None:
    model = OnnxSentimentModel.load(model_dir, batch_size=2)
    texts = ["the service is good", "bad", "not good not bad", "", "unknown words only"]
    probabilities = model.predict_proba(texts)
    assert probabilities.shape == (5, 3)
    assert probabilities.sum(axis=1) == pytest.approx(np.ones(5))
    # config.json says output 0 is positive: it must land in our column 2.
    raw = model._logits(texts[:1])
    exp = np.exp(raw - raw.max())
    assert probabilities[0, 2] == pytest.approx((exp / exp.sum())[0, 0])


def test_padding_does_not_change_a_text_score(model_dir: Path) -> None:
    model = OnnxSentimentModel.load(model_dir)
    alone = model.predict_proba(["good"])
    padded = model.predict_proba(["good", "the service is not good the service is bad"])
    assert padded[0] == pytest.approx(alone[0], abs=1e-5)


def test_classify_onnx_mode(model_dir: Path) -> None:
    sentiments = classify(["good service", "bad"], mode="onnx", model_path=model_dir)
    assert len(sentiments) == 2
    assert all(-1.0 <= s.score <= 1.0 for s in sentiments)


def test_two_label_models_and_missing_config(tmp_path: Path) -> None:
    _model(tmp_path / "binary.onnx", outputs=2)
    _tokenizer(tmp_path / "tokenizer.json")
    probabilities = OnnxSentimentModel.load(tmp_path).predict_proba(["good"])
    assert probabilities[0, 1] == 0.0
    assert probabilities[0, 0] + probabilities[0, 2] == pytest.approx(1.0)


def test_label_mapping() -> None:
    assert label_columns({"id2label": {"0": "NEG", "1": "NEU", "2": "POS"}}, 3) == [0, 1, 2]
    assert label_columns({"id2label": {"0": "LABEL_0", "1": "LABEL_1", "2": "LABEL_2"}}, 3) == [
        0,
        1,
        2,
    ]
    with pytest.raises(ValueError, match="id2label"):
        label_columns({}, 5)


def test_missing_folder_and_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        OnnxSentimentModel.load(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match=r"no \.onnx file"):
        OnnxSentimentModel.load(tmp_path)
    _model(tmp_path / "model.onnx")
    with pytest.raises(FileNotFoundError, match=r"tokenizer\.json is missing"):
        OnnxSentimentModel.load(tmp_path)
