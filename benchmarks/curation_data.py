"""The curation benchmark's data: one clean training set, its degraded variants and one held-out set.

Everything is generated deterministically in code (no downloads). The conversations are those of a
support assistant for "Kestrel", a made-up home-internet provider, so no base model knows its facts:

- a small knowledge base of 12 facts (prices, delays, limits), 3 per support category (billing,
  technical, delivery, account); each fact has 4 question phrasings: 3 train, 1 held out;
- a `general` category of everyday questions answered in plain prose (12 train, 6 held out; none of
  them in the engine's built-in control set, which measures forgetting);
- a fixed, checkable house format (`house_format_ok`): support answers are a bold `**Answer**`
  heading with the fact, a bold `**Steps**` heading with two `-` bullets, and a closing
  `Ticket tag: [category]` line; general answers are prose followed by the same tag line.

Degraded variants (each keeps the clean version of every example as `truth`, so a "reviewer" can fix it):

- `noisy_set(seed)`: formatting noise in `format_share` of all examples (one defect each, drawn from
  `DEFECTS`: doubled spaces, `*` bullets, a `##` heading, an unclosed `[` or `<b>`, the steps run into
  one line) and a contradicted fact (the fact's outdated value, as an old price list would give) in
  `fact_share` of the knowledge-base examples; both drawn independently by seed;
- `unbalanced_set(seed)`: as many examples as the clean set, `narrow_share` of them from one narrow
  category (billing, many phrasings of its 3 facts), the rest spread over the other categories.

Pure Python (no torch, no Django).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field, replace

Conversation = list[dict[str, str]]

COMPANY = "Kestrel"
SYSTEM_PROMPT = "You are the Kestrel support assistant."
SUPPORT_CATEGORIES = ("billing", "technical", "delivery", "account")
GENERAL = "general"
CATEGORIES = (*SUPPORT_CATEGORIES, GENERAL)
# The project's declared style (ProjectSpec.list_marker / heading_style): what the formatting checks hold to.
LIST_MARKER = "-"
HEADING_STYLE = "bold"


@dataclass(frozen=True)
class Fact:
    key: str
    category: str
    statement: str  # with {value}
    value: str  # the knowledge base's value, checked verbatim in answers
    outdated: str  # the contradicting value some annotators copied from an old price list
    questions: tuple[str, str, str, str]  # 3 for training, the last held out
    steps: tuple[str, str]

    def sentence(self, value: str | None = None) -> str:
        return self.statement.format(value=self.value if value is None else value)


FACTS: tuple[Fact, ...] = (
    # -- billing
    Fact(
        "plan_price",
        "billing",
        "The Basic plan costs {value} per month.",
        "29 euros",
        "35 euros",
        (
            "How much does the Basic plan cost?",
            "What is the monthly price of your Basic plan?",
            "I'm thinking of taking the Basic plan. What will I pay each month?",
            "What's the price of the Basic plan per month?",
        ),
        ("Open the app and choose Plans.", "The Basic plan and its price are listed first."),
    ),
    Fact(
        "refund_delay",
        "billing",
        "Refunds reach your bank account within {value}.",
        "5 business days",
        "12 business days",
        (
            "How long does a refund take?",
            "When will I get my refund?",
            "You approved my refund. How soon will the money arrive?",
            "How many days until a refund is in my bank account?",
        ),
        ("Open Billing and choose Refunds.", "Each refund shows the date it was sent."),
    ),
    Fact(
        "late_fee",
        "billing",
        "A late payment adds a fee of {value} to your next invoice.",
        "4 euros",
        "9 euros",
        (
            "What happens if I pay my invoice late?",
            "Is there a fee for paying late?",
            "I missed the payment date. Will it cost me extra?",
            "How much is the late payment fee?",
        ),
        ("Open Billing and choose Invoices.", "Pay the open invoice to avoid a second fee."),
    ),
    # -- technical
    Fact(
        "router_reset",
        "technical",
        "Hold the reset button for {value} to restart the router.",
        "30 seconds",
        "5 seconds",
        (
            "How do I reset my router?",
            "My router is stuck. How do I restart it?",
            "How long do I press the reset button on the router?",
            "What is the right way to reset the Kestrel router?",
        ),
        ("Find the small reset button on the back of the router.", "Wait until the light turns green."),
    ),
    Fact(
        "warranty",
        "technical",
        "The router warranty lasts {value}.",
        "24 months",
        "12 months",
        (
            "How long is the router warranty?",
            "Is my router still under warranty after a year?",
            "What warranty comes with the router?",
            "For how long is the Kestrel router covered by warranty?",
        ),
        ("Open the app and choose Devices.", "The warranty end date is shown under your router."),
    ),
    Fact(
        "fibre_speed",
        "technical",
        "The Fibre plan gives download speeds of up to {value}.",
        "500 Mbps",
        "300 Mbps",
        (
            "How fast is the Fibre plan?",
            "What download speed does Fibre give me?",
            "Is the Fibre plan fast enough for streaming? What speed is it?",
            "What is the top download speed on the Fibre plan?",
        ),
        ("Run a speed test with a cable plugged into the router.", "Compare the result with your plan."),
    ),
    # -- delivery
    Fact(
        "router_delivery",
        "delivery",
        "A new router arrives within {value} of your order.",
        "3 working days",
        "7 working days",
        (
            "When will my new router arrive?",
            "How long does router delivery take?",
            "I just ordered a router. How soon will it come?",
            "How many days does it take to deliver a router?",
        ),
        ("Open Orders in the app.", "The tracking link appears once the router ships."),
    ),
    Fact(
        "return_window",
        "delivery",
        "You can return a router within {value} of delivery.",
        "21 days",
        "60 days",
        (
            "Can I return my router?",
            "How long do I have to send the router back?",
            "I don't want the router any more. Is it too late to return it?",
            "What is the return period for a router?",
        ),
        ("Open Orders and choose Return.", "Print the label and pack the router in its box."),
    ),
    Fact(
        "technician_fee",
        "delivery",
        "A technician visit costs {value}.",
        "49 euros",
        "79 euros",
        (
            "How much does a technician visit cost?",
            "Do I pay for a technician to come to my home?",
            "What is the price of an installation visit?",
            "What do you charge for sending a technician?",
        ),
        ("Open Support and choose Book a visit.", "Pick a time slot that suits you."),
    ),
    # -- account
    Fact(
        "password_length",
        "account",
        "Passwords need at least {value}.",
        "12 characters",
        "8 characters",
        (
            "How long does my password have to be?",
            "What are the password rules?",
            "My new password was refused. How many characters does it need?",
            "What is the minimum password length for my account?",
        ),
        ("Open Account and choose Security.", "Type the new password twice and save."),
    ),
    Fact(
        "login_code",
        "account",
        "The login code is valid for {value}.",
        "10 minutes",
        "45 minutes",
        (
            "How long is the login code valid?",
            "My login code stopped working. Does it expire?",
            "How much time do I have to enter the login code?",
            "When does a login code run out?",
        ),
        ("Ask for a new code on the sign-in page.", "Enter the code from the latest message."),
    ),
    Fact(
        "account_deletion",
        "account",
        "Closed accounts are deleted after {value}.",
        "90 days",
        "180 days",
        (
            "What happens to my data when I close my account?",
            "When is a closed account deleted?",
            "I closed my account. How long do you keep my details?",
            "How long until a closed account is removed?",
        ),
        ("Open Account and choose Close account.", "Download your invoices before you close it."),
    ),
)
FACTS_BY_KEY = {f.key: f for f in FACTS}

# Everyday questions (none of them in training/engine/control_set.py): 12 train, 6 held out.
GENERAL_QA: tuple[tuple[str, str], ...] = (
    ("How do I sharpen a kitchen knife?",
     "Hold the blade at a low angle against a whetstone and draw it along the stone several times on each "
     "side. Finish with a few light strokes to remove the rough edge."),
    ("Why does bread go stale?",
     "The starch in bread slowly crystallises and pushes water out as it cools and ages. That makes the crumb "
     "dry and firm even when the loaf is wrapped."),
    ("How do I unclog a kitchen sink?",
     "Pour a kettle of hot water down the drain, then use a plunger with a tight seal over the plughole. If that "
     "fails, clean the trap under the sink."),
    ("Why do we yawn?",
     "Nobody knows for sure. Yawning may cool the brain and help us stay alert, and it spreads from person to "
     "person because we copy each other."),
    ("What is a haiku?",
     "A haiku is a short Japanese poem of three lines. The lines traditionally have five, seven and five "
     "syllables and often describe a moment in nature."),
    ("How do bees make honey?",
     "Bees collect nectar from flowers and store it in their hive. They fan it with their wings until most of "
     "the water evaporates, and the thick sugar that remains is honey."),
    ("How do I iron a shirt?",
     "Start with the collar, then the cuffs and sleeves, and finish with the front and back panels. Use steam "
     "and keep the iron moving so the fabric does not burn."),
    ("Why does the Moon change shape?",
     "The Moon does not change shape. As it circles the Earth we see different parts of its sunlit half, so it "
     "seems to grow and shrink over a month."),
    ("What causes thunder?",
     "Lightning heats the air around it very quickly. The air expands so fast that it makes a shock wave, and "
     "we hear that wave as thunder."),
    ("How do I keep bananas fresh for longer?",
     "Keep them at room temperature away from other fruit and wrap the stems in foil. Once they are ripe you "
     "can put them in the fridge to slow them down."),
    ("How do I write a thank-you note?",
     "Name the gift or the favour, say how it helped you or why you liked it, and end with a warm wish. A few "
     "honest sentences are enough."),
    ("Why do tyres need the right air pressure?",
     "Tyres with too little air wear out faster, use more fuel and grip the road less well. Check the pressure "
     "once a month when the tyres are cold."),
    ("How do I clean a computer keyboard?",
     "Unplug it, turn it upside down and shake out the crumbs. Then wipe the keys with a cloth that is slightly "
     "damp with soapy water."),
    ("Why is the sea salty?",
     "Rain slowly dissolves minerals from rocks and rivers carry them to the sea. When sea water evaporates the "
     "salt stays behind, so it builds up over time."),
    ("How do I get rid of fruit flies?",
     "Put out a small bowl of vinegar with a drop of washing-up liquid. Throw away overripe fruit and empty the "
     "bin often so they have nothing to feed on."),
    ("What is a rainbow?",
     "A rainbow appears when sunlight passes through raindrops. Each drop bends the light and splits it into "
     "its colours, which we see as an arc."),
    ("How do I stop my glasses from fogging up?",
     "Wash the lenses with a drop of washing-up liquid and let them dry without rinsing. The thin film stops "
     "the mist from forming droplets."),
    ("Why do cut apples turn brown?",
     "Cutting an apple lets air reach its flesh. An enzyme in the fruit reacts with oxygen and makes brown "
     "pigments, and lemon juice slows this down."),
)  # fmt: skip
GENERAL_TRAIN = GENERAL_QA[:12]
GENERAL_HELD_OUT = GENERAL_QA[12:]
TRAIN_QUESTIONS = 3  # phrasings per fact in training; the 4th is held out

# Customer openings used to make the many billing variants of the unbalanced set.
OPENINGS = ("", "Hi, ", "Hello, ", "Quick question: ", "Good morning. ", "Hi there. ", "Sorry to bother you, ",
            "One more thing: ", "Hey, ", "Hello again. ", "Please help: ", "Dear support, ", "Hi team, ")  # fmt: skip


# -- the house format -----------------------------------------------------------------------------------


def tag_line(category: str) -> str:
    return f"Ticket tag: [{category}]"


def support_answer(fact: Fact, value: str | None = None) -> str:
    steps = "\n".join(f"{LIST_MARKER} {s}" for s in fact.steps)
    return f"**Answer**\n{fact.sentence(value)}\n\n**Steps**\n{steps}\n\n{tag_line(fact.category)}"


def general_answer(text: str) -> str:
    return f"{text}\n\n{tag_line(GENERAL)}"


SUPPORT_RE = re.compile(
    r"\A\*\*Answer\*\*\n[^\n*#<>\[\]]+\n\n\*\*Steps\*\*\n(?:- [^\n*#<>\[\]]+\n){1,4}\nTicket tag: \[(\w+)\]\Z"
)
GENERAL_RE = re.compile(r"\A[^\n*#<>\[\]]+\n\nTicket tag: \[general\]\Z")


def house_format_ok(answer: str, category: str) -> bool:
    """Whether an answer has the house structure of its category (headings, bullets, tag line)."""
    if category == GENERAL:
        return bool(GENERAL_RE.match(answer))
    m = SUPPORT_RE.match(answer)
    return bool(m) and m.group(1) == category


# -- examples -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Example:
    """One training conversation and what was done to it. `truth` is its clean version (what a reviewer
    who checks it against the knowledge base and the guidelines would write); for clean examples, itself."""

    messages: Conversation
    category: str
    fact: str | None = None  # the knowledge-base fact it states, if any
    defects: tuple[str, ...] = ()  # formatting defects injected (names from DEFECTS)
    contradicted: bool = False  # states the fact's outdated value
    truth: Conversation = field(default_factory=list)

    @property
    def corrupted(self) -> bool:
        return bool(self.defects) or self.contradicted

    @property
    def answer(self) -> str:
        return self.messages[-1]["content"]

    def to_record(self) -> dict:
        """The stored shape the validators read (`{"messages", "category"}`)."""
        return {"messages": self.messages, "category": self.category}


def conversation(question: str, answer: str) -> Conversation:
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": question},
        {"role": "assistant", "content": answer},
    ]


def _example(question: str, answer: str, category: str, fact: str | None = None) -> Example:
    messages = conversation(question, answer)
    return Example(messages, category, fact, truth=messages)


def clean_set() -> list[Example]:
    """The balanced clean training set: 3 phrasings of each of the 12 facts (36) + 12 general (48 in all),
    categories interleaved."""
    by_category: dict[str, list[Example]] = {c: [] for c in CATEGORIES}
    for fact in FACTS:
        for question in fact.questions[:TRAIN_QUESTIONS]:
            by_category[fact.category].append(_example(question, support_answer(fact), fact.category, fact.key))
    for question, text in GENERAL_TRAIN:
        by_category[GENERAL].append(_example(question, general_answer(text), GENERAL))
    return _interleave(by_category)


def _interleave(by_category: dict[str, list[Example]]) -> list[Example]:
    out: list[Example] = []
    queues = [list(v) for v in by_category.values()]
    while any(queues):
        for q in queues:
            if q:
                out.append(q.pop(0))
    return out


@dataclass(frozen=True)
class HeldOut:
    prompt: Conversation  # system + user
    reference: str  # the answer the house format and the knowledge base call for
    category: str
    fact: str | None = None

    @property
    def conversation(self) -> Conversation:
        return [*self.prompt, {"role": "assistant", "content": self.reference}]


def held_out_set() -> list[HeldOut]:
    """12 knowledge-base questions (each fact's unseen phrasing) and 6 everyday questions."""
    out = [HeldOut(conversation(f.questions[-1], "")[:2], support_answer(f), f.category, f.key) for f in FACTS]
    out += [HeldOut(conversation(q, "")[:2], general_answer(a), GENERAL) for q, a in GENERAL_HELD_OUT]
    return out


def knowledge_base_facts() -> list[str]:
    """The project's fact list (what the fact check holds answers to)."""
    return [f.sentence() for f in FACTS]


def knowledge_base_documents() -> dict[str, str]:
    """The help centre pages the steps come from (so the fact check finds them too)."""
    pages: dict[str, list[str]] = {}
    for f in FACTS:
        pages.setdefault(f"help/{f.category}", []).append(" ".join(f.steps))
    return {name: " ".join(parts) for name, parts in pages.items()}


# -- formatting noise -----------------------------------------------------------------------------------

DEFECTS = ("double_space", "list_marker", "heading", "bracket", "tag", "run_on_steps")
SUPPORT_ONLY = frozenset({"list_marker", "heading", "run_on_steps"})


def _double_spaces(text: str, rng: random.Random, n: int = 3) -> str:
    lines = text.split("\n")
    # Gaps between two words inside prose lines (not the heading or tag lines).
    gaps = [(i, m.start()) for i, line in enumerate(lines) if not line.startswith(("**", "Ticket tag"))
            for m in re.finditer(r"(?<=\w) (?=\w)", line)]  # fmt: skip
    for i, pos in sorted(rng.sample(gaps, min(n, len(gaps))), reverse=True):
        lines[i] = lines[i][:pos] + "  " + lines[i][pos + 1 :]
    return "\n".join(lines)


def apply_defect(answer: str, defect: str, rng: random.Random) -> str:
    """One formatting defect, the way careless annotation produces it."""
    if defect == "double_space":
        return _double_spaces(answer, rng)
    if defect == "list_marker":  # another editor's bullets
        return re.sub(r"(?m)^- ", "* ", answer)
    if defect == "heading":  # a markdown heading where the house style has a bold line
        return answer.replace("**Answer**", "## Answer", 1)
    if defect == "bracket":  # the tag line cut short
        return re.sub(r"\[(\w+)\]$", r"[\1", answer)
    if defect == "tag":  # pasted from a rich-text editor, the closing tag lost
        return "<b>" + answer if not answer.startswith("**") else answer.replace("**Answer**\n", "**Answer**\n<b>", 1)
    if defect == "run_on_steps":  # the steps run into one line without their heading
        m = re.search(r"\*\*Steps\*\*\n((?:- [^\n]+\n)+)", answer)
        if not m:
            return answer
        steps = [line[2:].rstrip(".") for line in m.group(1).strip().split("\n")]
        line = "Steps: " + ", then ".join(s[0].lower() + s[1:] for s in steps) + ".\n"
        return answer[: m.start()] + line + answer[m.end() :]
    raise ValueError(f"Unknown defect {defect!r}")


def noisy_set(seed: int, format_share: float = 0.3, fact_share: float = 0.3) -> list[Example]:
    """The clean set with formatting noise in `format_share` of the examples (one defect each) and the
    outdated value of the fact in `fact_share` of the knowledge-base examples (drawn independently)."""
    rng = random.Random(10_000 + seed)  # noqa: S311 - deterministic benchmark data
    base = clean_set()
    n_format = round(format_share * len(base))
    fact_indices = [i for i, e in enumerate(base) if e.fact]
    n_fact = round(fact_share * len(fact_indices))
    noisy_format = set(rng.sample(range(len(base)), n_format))
    noisy_fact = set(rng.sample(fact_indices, n_fact))
    out = []
    for i, ex in enumerate(base):
        answer = ex.answer
        contradicted = i in noisy_fact
        if contradicted:
            fact = FACTS_BY_KEY[ex.fact or ""]
            answer = support_answer(fact, fact.outdated)
        defects: tuple[str, ...] = ()
        if i in noisy_format:
            allowed = [d for d in DEFECTS if ex.category != GENERAL or d not in SUPPORT_ONLY]
            defects = (rng.choice(allowed),)
            answer = apply_defect(answer, defects[0], rng)
        messages = [*ex.messages[:-1], {"role": "assistant", "content": answer}]
        out.append(replace(ex, messages=messages, defects=defects, contradicted=contradicted, truth=ex.truth))
    return out


def reviewed_set(noisy: list[Example], flagged: set[int]) -> list[Example]:
    """The noisy set after review: every flagged example replaced by its clean version (the ground truth a
    reviewer restores from the knowledge base and the guidelines); the others left as they are."""
    return [
        replace(ex, messages=ex.truth, defects=(), contradicted=False) if i in flagged else ex
        for i, ex in enumerate(noisy)
    ]


# -- an unbalanced set ----------------------------------------------------------------------------------


def unbalanced_set(seed: int, narrow: str = "billing", narrow_share: float = 0.8) -> list[Example]:
    """As many examples as `clean_set()`, `narrow_share` of them from the `narrow` category (its facts'
    training phrasings behind varied openings), the rest a seeded draw spread over the other categories."""
    rng = random.Random(20_000 + seed)  # noqa: S311 - deterministic benchmark data
    size = len(clean_set())
    n_narrow = round(narrow_share * size)
    narrow_facts = [f for f in FACTS if f.category == narrow]
    variants = [
        (opening + (q[0].lower() + q[1:] if opening else q), f)
        for opening in OPENINGS
        for f in narrow_facts
        for q in f.questions[:TRAIN_QUESTIONS]
    ]
    if len(variants) < n_narrow:
        raise ValueError(f"Only {len(variants)} distinct {narrow} examples for {n_narrow} places")
    chosen = rng.sample(variants, n_narrow)
    narrow_examples = [_example(q, support_answer(f), narrow, f.key) for q, f in chosen]
    others_by_category: dict[str, list[Example]] = {c: [] for c in CATEGORIES if c != narrow}
    for ex in clean_set():
        if ex.category != narrow:
            others_by_category[ex.category].append(ex)
    for pool in others_by_category.values():
        rng.shuffle(pool)
    others = _interleave(others_by_category)[: size - n_narrow]
    out = narrow_examples + others
    rng.shuffle(out)
    return out


# -- checking answers -----------------------------------------------------------------------------------


def _squash(text: str) -> str:
    return " ".join(text.lower().split())


def fact_outcome(answer: str, fact_key: str) -> str:
    """'correct' (the knowledge base's value and not the outdated one), 'outdated' (the contradicting value
    the noisy set taught), or 'missing' (neither, or both)."""
    fact = FACTS_BY_KEY[fact_key]
    text = _squash(answer)
    right, wrong = _squash(fact.value) in text, _squash(fact.outdated) in text
    if right and not wrong:
        return "correct"
    if wrong and not right:
        return "outdated"
    return "missing"
