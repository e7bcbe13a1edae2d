#!/usr/bin/env python3
"""Makes crates/eval/tests/fixtures/elo_reference.json: Elo ratings computed with the formula
of the book's `elo_ratings` (appendix F, chF/03_leaderboards), written out here in plain
Python, for seeded random votes and, when ../shared is beside the repository, for the book's
example votes (only the ratings are stored, not the votes).

    python3 scripts/make_leaderboard_fixtures.py
"""

import json
import random
from pathlib import Path


def elo_ratings(vote_pairs, k_factor=32, initial_rating=1000):
    """The book's update: models in order of first appearance, votes replayed in order."""
    ratings = {model: initial_rating for pair in vote_pairs for model in pair}
    for winner, loser in vote_pairs:
        expected = 1.0 / (1.0 + 10 ** ((ratings[loser] - ratings[winner]) / 400.0))
        ratings[winner] += k_factor * (1 - expected)
        ratings[loser] += k_factor * (0 - (1 - expected))
    return ratings


def main():
    root = Path(__file__).resolve().parent.parent
    rng = random.Random(20261204)
    models = ["m0", "m1", "m2", "m3", "m4"]
    cases = []
    for k, init, n in [(32, 1000, 300), (16, 1500, 1000), (64, 1000, 50)]:
        votes = []
        for _ in range(n):
            a, b = rng.sample(models, 2)
            votes.append([a, b])
        cases.append({"k": k, "initial": init, "votes": votes, "ratings": elo_ratings(votes, k, init)})
    out = {"random": cases}
    example = root.parent / "shared" / "datasets" / "arena_votes.json"
    if example.is_file():
        out["arena_example"] = elo_ratings(json.loads(example.read_text()))
    path = root / "crates" / "eval" / "tests" / "fixtures" / "elo_reference.json"
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(path)


if __name__ == "__main__":
    main()
