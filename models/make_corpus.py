#!/usr/bin/env python3
"""Writes tinystories.txt: short children's-story sentences from a small
hand-written grammar, one per line, lowercased, tokens separated by single
spaces (punctuation is a token of its own).

Deterministic: a fixed seed and Python's `random` (whose seeded sequences
are stable across Python 3 versions), so the same file comes out every run.

    python3 make_corpus.py [-o tinystories.txt] [-n 2000] [--seed 20240611]
"""
import argparse
import random

NAMES = ["lily", "tom", "sam", "mia", "ben", "anna", "max", "lucy", "tim", "sue", "jack", "emma"]
ANIMALS = ["cat", "dog", "bird", "frog", "duck", "bear", "rabbit", "fish", "mouse", "owl"]
THINGS = ["ball", "kite", "box", "cake", "apple", "boat", "hat", "toy", "flower", "book",
          "cup", "car", "shell", "drum"]
ADJECTIVES = ["little", "big", "red", "blue", "happy", "small", "old", "new", "shiny", "soft",
              "funny", "green", "yellow", "kind"]
FEELINGS = ["happy", "sad", "sleepy", "hungry", "scared", "proud", "excited", "tired"]
# Past tense, with an object.
SEE_VERBS = ["saw", "found", "liked", "wanted", "had", "lost", "hugged", "loved", "made",
             "took", "shared", "painted"]
# Past tense, no object.
ACT_VERBS = ["ran", "jumped", "played", "smiled", "laughed", "slept", "sang", "danced",
             "waited", "looked around"]
# Base forms, after "wanted to" / "let us".
BASE_VERBS = ["play", "run", "jump", "swim", "read", "sing", "dance", "hide", "eat", "help"]
PLACES = ["in the park", "at home", "by the river", "under the tree", "near the house",
          "in the garden", "on the hill", "at school"]
OPENERS = ["one day", "then", "after that", "the next day", "in the morning", "at night"]
ANIMAL_ACTIONS = {"cat": "meowed", "dog": "barked", "bird": "sang", "frog": "hopped",
                  "duck": "swam", "bear": "growled", "rabbit": "hopped", "fish": "swam",
                  "mouse": "squeaked", "owl": "hooted"}


def zipf(rng, words):
    """A word from WORDS, earlier ones more often (weight 1/rank), so that
    some n-grams repeat a lot and the tail stays sparse."""
    return rng.choices(words, weights=[1.0 / (i + 1) for i in range(len(words))])[0]


def article(word):
    return "an" if word[0] in "aeiou" else "a"


def noun_phrase(rng, definite=False, adjectives=None):
    """'the big red ball', 'an old owl', 'a cat'."""
    noun = zipf(rng, ANIMALS + THINGS if rng.random() < 0.5 else THINGS + ANIMALS)
    if adjectives is None:
        adjectives = rng.choices([0, 1, 2], weights=[3, 4, 1])[0]
    adjs = []
    for _ in range(adjectives):
        a = zipf(rng, ADJECTIVES)
        if a not in adjs:
            adjs.append(a)
    words = adjs + [noun]
    det = "the" if definite else article(words[0])
    return " ".join([det] + words), noun


def two_names(rng):
    a = zipf(rng, NAMES)
    b = zipf(rng, [n for n in NAMES if n != a])
    return a, b


def sentence(rng):
    name = zipf(rng, NAMES)
    t = rng.choices(range(16), weights=[3, 8, 6, 4, 6, 5, 5, 2, 3, 4, 4, 3, 3, 2, 3, 2])[0]
    if t == 0:
        np, _ = noun_phrase(rng, adjectives=1)
        return f"once upon a time , there was {np} ."
    if t == 1:
        return f"{name} {zipf(rng, SEE_VERBS)} {noun_phrase(rng)[0]} ."
    if t == 2:
        np, _ = noun_phrase(rng, definite=True)
        return f"{np} {zipf(rng, ACT_VERBS)} {zipf(rng, PLACES)} ."
    if t == 3:
        a, b = two_names(rng)
        return f"{a} and {b} {zipf(rng, ACT_VERBS)} together ."
    if t == 4:
        return f"{name} {zipf(rng, SEE_VERBS)} {noun_phrase(rng, definite=True, adjectives=0)[0]} ."
    if t == 5:
        np, _ = noun_phrase(rng)
        return f"{zipf(rng, OPENERS)} , {name} {zipf(rng, SEE_VERBS)} {np} {zipf(rng, PLACES)} ."
    if t == 6:
        return f"{name} was very {zipf(rng, FEELINGS)} ."
    if t == 7:
        return f'{name} said , " let us {zipf(rng, BASE_VERBS)} ! "'
    if t == 8:
        a, b = two_names(rng)
        return f"{a} gave {noun_phrase(rng, definite=True)[0]} to {b} ."
    if t == 9:
        _, noun = noun_phrase(rng, adjectives=0)
        a1 = zipf(rng, ADJECTIVES)
        a2 = zipf(rng, [x for x in ADJECTIVES if x != a1])
        return f"the {noun} was {a1} and {a2} ."
    if t == 10:
        return f"{name} wanted to {zipf(rng, BASE_VERBS)} with {noun_phrase(rng, True, 0)[0]} ."
    if t == 11:
        np, _ = noun_phrase(rng, definite=True)
        return f"{name} was {zipf(rng, FEELINGS)} because {np} was {zipf(rng, ADJECTIVES)} ."
    if t == 12:
        return f"they {zipf(rng, ACT_VERBS)} {zipf(rng, PLACES)} all day ."
    if t == 13:
        _, noun = noun_phrase(rng, adjectives=0)
        return f"where is my {noun} ? asked {name} ."
    if t == 14:
        animal = zipf(rng, ANIMALS)
        return f"the {animal} {ANIMAL_ACTIONS[animal]} and {name} {zipf(rng, ACT_VERBS)} ."
    animal = zipf(rng, ANIMALS)
    return f"{name} and {article(animal)} {animal} were friends ."


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-o", "--output", default="tinystories.txt")
    ap.add_argument("-n", "--sentences", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=20240611)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    lines = [sentence(rng) for _ in range(args.sentences)]
    for line in lines:  # the format promise: lowercase, single spaces, no edge blanks
        assert line == line.lower() and "  " not in line and line == line.strip(), line
    with open(args.output, "w", encoding="ascii", newline="\n") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
