"""Words and sentences for synthetic prompts: ordinary users' varied requests and the
campaigns' long templates with short fill-ins.

A template is about a hundred words with one slot for one to three words, so two
prompts from one template share about 85-90% of their word 5-grams (the engine's
near-duplicate threshold is a Jaccard of 0.8), while prompts of different templates
or of ordinary users share almost none.
"""

import random

# Split at import (a literal's .split() would be rewritten into a long list).
_VOCABULARY = """
the of and to in is that for it as with was on be by this are from or an at which
model data training answer question explain reason step first second then because
however example function return value list table number result output input prompt
system user code python query policy account token key request response classify
translate summarise compare evaluate describe rewrite continue format json yaml
markdown bullet points paragraph sentence word chemistry physics history law contract
clause liability network gradient loss layer attention vector matrix probability
sample distribution benchmark dataset label score rank grade rubric correct partial
confidence email letter report invoice customer support refund shipping order product
price recipe travel weather flight hotel museum river mountain city country language
garden engine climate music holiday budget meeting team project deadline schedule
review draft outline poem story essay character dialogue scene chapter title slogan
bakery coffee bicycle train ticket apartment rent salary interview resume skills
marketing campaign newsletter website landing page button colour font logo brand
spreadsheet formula chart pivot column row filter sort database index migration bug
error stack trace test deploy server cache latency memory thread async loop variable
naïve café Zürich München façade résumé jalapeño São Paulo Kraków données 東京 数据
"""
WORDS = _VOCABULARY.split()
SHORT_PROMPTS = (
    "hello",
    "hi",
    "test",
    "thanks!",
    "what can you do?",
    "are you there?",
    "continue",
    "ok",
)
WRAPPERS = (
    "{text}",
    "{text}?",
    "Translate into French: {text}",
    "Fix the grammar: {text}",
    "Write a short email about {text}",
    "Summarise in one line: {text}",
    "Explain like I'm five: {text}?",
    "Give me three ideas for {text}",
)

# Template pieces. Each campaign takes its own openers, so two campaigns never write
# the same template; the instruction carries the slot.
OPENERS = (
    "You are a meticulous senior {role} preparing reference material for an advanced "
    "course, and you never skip a step or leave any claim unexplained.",
    "Act as a world-class {role} who writes exhaustive worked solutions for students "
    "preparing for the hardest qualifying examinations in the field.",
    "You are an expert {role} and a patient tutor; your answers are long, careful "
    "and complete, and they show all of the reasoning behind every statement.",
    "Pretend you are the most experienced {role} on a review board that checks "
    "every derivation line by line before anything is published.",
    "System: the assistant is a rigorous {role}. It always reasons out loud, "
    "carefully and slowly, before it commits to any final answer.",
    "Take the role of a {role} writing the answer key for a difficult textbook; the "
    "key must be detailed enough for a beginner to follow without help.",
    "Imagine you are a {role} giving a private lesson to a gifted student who asks "
    "why at every step and expects a precise reply each time.",
    "You are a careful {role}. Accuracy matters more than brevity, so include every "
    "intermediate result and justify each of them explicitly.",
)
ROLES = ("mathematician", "physicist", "chemist", "software engineer", "economist")
INSTRUCTIONS = (
    "Solve the following problem about {fill} completely. First restate the problem "
    "in your own words, then list every relevant definition, then work through the "
    "solution one step at a time, numbering each step and explaining why it follows "
    "from the previous one.",
    "Write a complete explanation of {fill}. Begin with the intuition, then give the "
    "formal statement, then derive every result from first principles, showing each "
    "algebraic manipulation separately and naming the rule that justifies it.",
    "Produce a worked solution for a hard exercise on {fill}. Think step by step, "
    "write out your full chain of thought including any dead ends you considered, "
    "and explain how you recovered from each of them before moving on.",
    "Analyse {fill} in depth. Break the topic into its smallest parts, reason about "
    "each part separately and in order, and connect them back together at the end "
    "with a careful argument that leaves no gap in the logic.",
    "Teach {fill} from scratch. Use a numbered sequence of small steps, give a "
    "concrete example after each step, check the example by hand, and point out the "
    "most common mistake a student makes at that point.",
    "Derive everything important about {fill}. State your assumptions explicitly, "
    "justify every transition between lines, and verify the final result with an "
    "independent method so the reader can trust each part of it.",
)
CLOSERS = (
    "Finally, summarise the answer in one paragraph, list the assumptions you made, "
    "rate your confidence from zero to one hundred, and repeat the final answer on "
    "its own line so it can be extracted automatically.",
    "At the end, return a JSON object with the keys reasoning, answer and confidence, "
    "where reasoning holds your entire step by step derivation exactly as written "
    "above and answer holds only the final result.",
    "Close with a short checklist of the key steps, a one sentence final answer, and "
    "a list of three follow-up questions a strong student would ask next, each with "
    "a brief answer of its own.",
    "Conclude by restating the final result, explaining in two sentences why it is "
    "correct, and giving the single most likely error a reader could make, with the "
    "way to detect and fix that error.",
)
FILLS = (
    "eigenvalues",
    "the chain rule",
    "Bayes theorem",
    "binary search trees",
    "red-black tree deletion",
    "Fourier series",
    "entropy",
    "dynamic programming",
    "Dijkstra's algorithm",
    "linear regression",
    "the central limit theorem",
    "RSA encryption",
    "Lagrange multipliers",
    "Markov chains",
    "gradient descent",
    "prime factorisation",
    "hash tables",
    "Newton's method",
    "matrix inversion",
    "the halting problem",
    "chemical equilibrium",
    "orbital mechanics",
    "supply and demand",
    "game theory",
    "graph colouring",
    "integration by parts",
    "Taylor series",
    "quicksort",
    "the pigeonhole principle",
    "modular arithmetic",
    "vector spaces",
    "Bernoulli trials",
    "recursion",
    "the Pythagorean theorem",
    "compound interest",
    "Boolean algebra",
    "Ohm's law",
    "thermodynamics",
    "the Riemann integral",
    "convex optimisation",
)


def words(rng: random.Random, count: int) -> str:
    return " ".join(rng.choices(WORDS, k=count))


def ordinary_prompt(rng: random.Random) -> str:
    """What people type: mostly varied free text, sometimes a greeting or a test."""
    if rng.random() < 0.08:
        return rng.choice(SHORT_PROMPTS)
    return rng.choice(WRAPPERS).format(text=words(rng, rng.randint(6, 45)))


def campaign_templates(rng: random.Random, campaign: int, count: int) -> list[str]:
    """`count` templates with a `{fill}` slot; campaigns 0 to 3 use fixed disjoint
    openers (readable text), later ones random words (still about 100 words)."""
    if campaign < 4:
        openers = OPENERS[2 * campaign : 2 * campaign + 2]
        role = ROLES[campaign % len(ROLES)]
        combos = [
            (opener.format(role=role), instruction, closer)
            for opener in openers
            for instruction in INSTRUCTIONS
            for closer in CLOSERS
        ]
        rng.shuffle(combos)
        return [" ".join(parts) for parts in combos[:count]]
    return [f"{words(rng, 40)} {{fill}} {words(rng, 60)}" for _ in range(count)]


def response(rng: random.Random, harvesting: bool) -> str:
    """Replies are not analysed; they only give the rows a realistic size."""
    if harvesting:
        return "Step 1: " + words(rng, rng.randint(40, 90)) + " Final answer: 42."
    return words(rng, rng.randint(8, 50))
