"""Every method against its known answers, through the method's own factories."""

from __future__ import annotations

import dataclasses

import pytest

import refcrypto
from refcrypto.knownanswers import KnownAnswer, known_answers, verify
from refcrypto.methods import Method

ALL = refcrypto.methods(extensions=True)
# No published vector exists for these (docs/vector-notes.md, "Gaps"): derived ones only.
DERIVED_ONLY = {"rc4-md5"} | {
    f"camellia-{b}-{m}" for b in (128, 192, 256) for m in ("cfb1", "cfb8")
}
ANSWERS = [(m, a) for m in ALL for a in known_answers(m)]


@pytest.mark.parametrize("m", ALL, ids=lambda m: m.name)
def test_every_method_has_known_answers(m: Method) -> None:
    answers = known_answers(m)
    assert answers, f"{m.name} has no known answer"
    published = [a for a in answers if not a.derived]
    if m.name in DERIVED_ONLY:
        assert not published
    else:
        assert published, f"{m.name} has only derived known answers"


@pytest.mark.parametrize("m,answer", ANSWERS, ids=lambda x: x.name if isinstance(x, Method) else "")
def test_known_answer(m: Method, answer: KnownAnswer) -> None:
    assert answer.method == m.name
    assert verify(answer), answer.source


@pytest.mark.parametrize("m", ALL, ids=lambda m: m.name)
def test_a_wrong_answer_is_caught(m: Method) -> None:
    answer = known_answers(m)[0]
    flipped = bytes([answer.ciphertext[0] ^ 0x01]) + answer.ciphertext[1:]
    assert not verify(dataclasses.replace(answer, ciphertext=flipped))


def test_answer_count() -> None:
    assert len(ANSWERS) >= 1000
