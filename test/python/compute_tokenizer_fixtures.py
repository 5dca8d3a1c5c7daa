#!/usr/bin/env python3
"""Recomputes packages/chat/src/tokenizer/__fixtures__/expected-{qwen3,llama3}.json: the ids Hugging
Face `tokenizers` gives for the multilingual corpus (corpus.json), once with special-token strings
parsed (`special_parsing`) and once kept as text (`plain`, encode_special_tokens=True).
Run once after changing the corpus: python3 test/python/compute_tokenizer_fixtures.py"""
import gzip
import json
import os

from tokenizers import Tokenizer

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "packages", "chat", "src")
with open(os.path.join(ROOT, "tokenizer", "__fixtures__", "corpus.json"), encoding="utf-8") as f:
    corpus = json.load(f)
for name in ["qwen3", "llama3"]:
    with gzip.open(os.path.join(ROOT, "__fixtures__", name, "tokenizer.json.gz"), "rt", encoding="utf-8") as f:
        tok = Tokenizer.from_str(f.read())
    out = {"special_parsing": {}, "plain": {}}
    for key, text in corpus.items():
        tok.encode_special_tokens = False
        out["special_parsing"][key] = tok.encode(text, add_special_tokens=False).ids
        tok.encode_special_tokens = True
        out["plain"][key] = tok.encode(text, add_special_tokens=False).ids
    with open(os.path.join(ROOT, "tokenizer", "__fixtures__", f"expected-{name}.json"), "w", encoding="utf-8") as f:
        json.dump(out, f, indent=0)
    print(f"wrote expected-{name}.json ({len(corpus)} texts)")
