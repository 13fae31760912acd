"""Placeholder until the generation format lands: answers are trained and read as they are."""


def generation_target(answer: str, decoding: str) -> str:
    return answer


def canonical_answer(generated: str, decoding: str) -> str:
    return generated
