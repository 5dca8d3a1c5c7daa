#!/usr/bin/env python3
"""Checks that a Tandem preset tokenizer folder loads unchanged in Hugging Face `tokenizers`
(and `transformers`' AutoTokenizer when installed) and gives the ids our JS tokenizer gave.

Usage: check_tokenizer.py --dir MODEL_DIR --expected EXPECTED.json

EXPECTED.json: {"vocab_size": int, "special_tokens": {content: id},
                "cases": [{"text": str, "trusted": [ids], "plain": [ids]}]}
  trusted: ids with special-token strings parsed as special tokens (template text)
  plain:   ids with special-token strings kept as text (user text; encode_special_tokens=True)
Exit status 0 when everything matches; 1 with one line per problem otherwise; 3 when the
`tokenizers` package is missing (callers skip).
"""
import argparse
import json
import os
import sys

try:
    from tokenizers import Tokenizer
except ImportError:  # pragma: no cover - exercised by the caller's skip path
    print("SKIP: python package 'tokenizers' is not installed (pip install -r test/python/requirements.txt)")
    sys.exit(3)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--expected", required=True)
    args = ap.parse_args()
    with open(args.expected, encoding="utf-8") as f:
        expected = json.load(f)
    problems = []

    tok = Tokenizer.from_file(os.path.join(args.dir, "tokenizer.json"))
    vocab_size = expected["vocab_size"]
    for content, want in expected["special_tokens"].items():
        got = tok.token_to_id(content)
        if got != want:
            problems.append(f"special token {content}: id {got}, expected {want}")
    top = max(tok.get_vocab(with_added_tokens=True).values())
    if top >= vocab_size:
        problems.append(f"largest id {top} is not below vocab_size {vocab_size}")

    for i, case in enumerate(expected["cases"]):
        text = case["text"]
        tok.encode_special_tokens = False
        trusted = tok.encode(text, add_special_tokens=False).ids
        tok.encode_special_tokens = True
        plain = tok.encode(text, add_special_tokens=False).ids
        tok.encode_special_tokens = False
        if trusted != case["trusted"]:
            problems.append(f"case {i} trusted ids differ: python {trusted} js {case['trusted']}")
        if plain != case["plain"]:
            problems.append(f"case {i} plain ids differ: python {plain} js {case['plain']}")
        if tok.decode(trusted, skip_special_tokens=False) != text:
            problems.append(f"case {i}: decode(encode(text)) != text")
    with_bos = tok.encode("hi").ids
    if with_bos[:1] != [expected["special_tokens"]["<BOS_TOKEN>"]]:
        problems.append(f"encode with special tokens does not start with <BOS_TOKEN>: {with_bos}")

    checked = ["tokenizers"]
    try:
        from transformers import AutoTokenizer  # noqa: WPS433 - optional dependency
    except ImportError:
        AutoTokenizer = None
    if AutoTokenizer is not None:
        checked.append("transformers")
        hf = AutoTokenizer.from_pretrained(args.dir)
        for i, case in enumerate(expected["cases"]):
            ids = hf(case["text"], add_special_tokens=False)["input_ids"]
            if ids != case["trusted"]:
                problems.append(f"case {i}: AutoTokenizer ids differ: {ids}")
        if hf.eos_token != "<|END_OF_TURN_TOKEN|>" or hf.bos_token != "<BOS_TOKEN>":
            problems.append(f"AutoTokenizer bos/eos: {hf.bos_token!r} / {hf.eos_token!r}")
        if hf.chat_template:
            rendered = hf.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True)
            if not rendered.startswith("<BOS_TOKEN><|START_OF_TURN_TOKEN|><|SYSTEM_TOKEN|># System Preamble"):
                problems.append("chat_template render does not start with the cmd3 system turn")
            want = expected.get("chat_render")
            if want is not None and rendered != want:
                problems.append("chat_template render differs from the JS render")

    for p in problems:
        print(p)
    if problems:
        return 1
    print(f"OK: {args.dir} ({len(expected['cases'])} cases; checked with {', '.join(checked)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
