"""The built-in control set: general-purpose conversations that measure forgetting.

Written for Annotune: everyday questions, writing help, reasoning, arithmetic and advice. After a job,
base and adapter are scored on (a deterministic sample of) these; an adapter that got much worse at
them has drifted away from general use (see `scoring.forgetting_check`). A project may supply its own
control set instead (a JSONL file of `{"messages": [...]}` lines, like a dataset's).

The hand-written pairs below are used as they are; the arithmetic, unit and reasoning items are composed
deterministically from templates with worked answers, so the set is the same on every machine.
"""

from __future__ import annotations

import random

Conversation = list[dict[str, str]]

# (question, answer): everyday knowledge, how-to and explanations.
EVERYDAY: tuple[tuple[str, str], ...] = (
    (
        "Why is the sky blue?",
        "Sunlight contains every colour. Air molecules scatter short wavelengths, like blue, much more than long "
        "ones, like red, so blue light reaches your eyes from every direction of the sky.",
    ),
    (
        "How long should I boil an egg for a soft yolk?",
        "Put the egg into water that is already boiling and cook it for about six minutes, then cool it under "
        "cold water for a minute so it stops cooking.",
    ),
    (
        "What is the difference between weather and climate?",
        "Weather is what the atmosphere does on a given day: rain, wind, temperature. Climate is the average "
        "pattern of weather in a place over many years.",
    ),
    (
        "How do I remove a coffee stain from a shirt?",
        "Rinse the back of the stain with cold water as soon as you can, rub in a little liquid detergent, let it "
        "sit for five minutes and wash as usual. Avoid hot water until the stain is gone, heat sets it.",
    ),
    (
        "Why do we have leap years?",
        "The Earth takes about 365.24 days to go round the Sun. Adding a day every four years keeps the calendar "
        "in step with the seasons; century years skip it unless they divide by 400.",
    ),
    (
        "What does a thermostat do?",
        "It measures the temperature of a room and switches the heating or cooling on or off to keep the "
        "temperature close to the value you set.",
    ),
    (
        "How many hours of sleep does an adult need?",
        "Most adults need between seven and nine hours a night. Regular times for going to bed and waking up "
        "matter as much as the total.",
    ),
    (
        "Can you explain what inflation is?",
        "Inflation is the general rise of prices over time. When it is 3 percent a year, something that costs "
        "100 today costs about 103 a year later, so the same money buys a little less.",
    ),
    (
        "What is photosynthesis?",
        "Photosynthesis is how plants make food. Using the energy of sunlight, they turn water and carbon dioxide "
        "into sugar and release oxygen as a by-product.",
    ),
    (
        "How do vaccines work?",
        "A vaccine shows the immune system a harmless piece or version of a germ. The body learns to recognise it, "
        "so if the real germ arrives later, the defence starts much faster.",
    ),
    (
        "Why does ice float on water?",
        "Water expands when it freezes: its molecules lock into an open crystal structure. Ice is therefore less "
        "dense than liquid water, and anything less dense floats.",
    ),
    (
        "What is the capital of Australia?",
        "The capital of Australia is Canberra. Sydney and Melbourne are larger, and Canberra was built as a "
        "compromise between them.",
    ),
    (
        "How do I keep cut flowers fresh for longer?",
        "Cut the stems at an angle, remove leaves that would sit under water, use clean water with a little flower "
        "food and change it every two days. Keep the vase away from direct sun and fruit.",
    ),
    (
        "What is a password manager?",
        "A password manager is an app that creates and stores a strong, different password for every account. "
        "You only need to remember one master password to unlock it.",
    ),
    (
        "Why do onions make you cry?",
        "Cutting an onion breaks its cells and releases a gas that irritates the eyes. The eyes make tears to wash "
        "it away. A sharp knife and a cold onion release less of it.",
    ),
    (
        "How does a refrigerator keep food cold?",
        "A refrigerant liquid evaporates inside the fridge and absorbs heat. A compressor pumps the gas outside, "
        "where it condenses and gives the heat off through the coils at the back.",
    ),
    (
        "What is the difference between a virus and bacteria?",
        "Bacteria are living single cells that can reproduce on their own; antibiotics can kill many of them. "
        "Viruses are much smaller and can only multiply inside other cells, so antibiotics do not work on them.",
    ),
    (
        "How often should I water a cactus?",
        "Water a cactus thoroughly, then let the soil dry out completely before the next watering. In summer that "
        "is often every two or three weeks; in winter, once a month or less.",
    ),
    (
        "What does GDP measure?",
        "Gross domestic product measures the total value of the goods and services produced in a country in a "
        "year. It is a rough measure of the size of an economy, not of wellbeing.",
    ),
    (
        "Why do cats purr?",
        "Cats purr when they are content, but also when they are stressed or hurt. The vibration seems to calm "
        "them, and it is a signal to other cats and to people.",
    ),
    (
        "How can I tell if an egg is still fresh?",
        "Put it in a bowl of water. A fresh egg sinks and lies flat; an older one stands up on its end; an egg "
        "that floats should be thrown away.",
    ),
    (
        "What is compound interest?",
        "Compound interest is interest earned on interest. Each year the interest is added to the balance, so the "
        "next year's interest is calculated on a larger amount and savings grow faster over time.",
    ),
    (
        "Why is it hotter in summer?",
        "The Earth's axis is tilted. In summer your half of the planet leans towards the Sun, so sunlight hits it "
        "more directly and days are longer. The distance to the Sun barely matters.",
    ),
    (
        "How do noise-cancelling headphones work?",
        "Small microphones pick up the sound around you, and the headphones play the same sound wave inverted. "
        "The two waves cancel out, which removes much of the steady background noise.",
    ),
    (
        "What is the boiling point of water?",
        "At sea level, water boils at 100 degrees Celsius, or 212 degrees Fahrenheit. High in the mountains the "
        "air pressure is lower and it boils at a lower temperature.",
    ),
    (
        "How do I reset a frozen laptop?",
        "Hold the power button down for about ten seconds until the laptop switches off, wait a few seconds and "
        "switch it on again. Unsaved work may be lost, so try closing the program first.",
    ),
    (
        "Why do leaves change colour in autumn?",
        "As days get shorter, trees stop making green chlorophyll. The yellow and orange pigments that were there "
        "all along become visible, and some trees make new red pigments.",
    ),
    (
        "What is a balanced diet?",
        "A balanced diet gives the body what it needs in sensible amounts: plenty of vegetables and fruit, whole "
        "grains, some protein, a little fat, and not too much sugar or salt.",
    ),
    (
        "How far away is the Moon?",
        "The Moon is on average about 384,000 kilometres from the Earth. Light covers that distance in a little "
        "over one second.",
    ),
    (
        "What is the difference between a simile and a metaphor?",
        "A simile compares two things using 'like' or 'as': she ran like the wind. A metaphor says one thing is "
        "another: she was a whirlwind.",
    ),
)

# (request, answer): writing help.
WRITING: tuple[tuple[str, str], ...] = (
    (
        "Write a short thank-you note to a neighbour who watered my plants.",
        "Dear Sam, thank you so much for looking after my plants while I was away. They are thriving, and it was "
        "a relief to know they were in good hands. Let me know when I can return the favour!",
    ),
    (
        "Give me a polite way to decline a meeting invitation.",
        "Thank you for the invitation. Unfortunately I can't join this meeting, but I'd be glad to read the notes "
        "afterwards or to share my input by email beforehand.",
    ),
    (
        "Suggest a title for a blog post about learning to cook at forty.",
        "How about 'Never Too Late for the Kitchen: Learning to Cook at Forty'?",
    ),
    (
        "Rewrite this sentence to be more concise: 'At this point in time we are not able to offer a refund.'",
        "We can't offer a refund right now.",
    ),
    (
        "Write a two-line poem about rain.",
        "Soft rain taps the window, patient as a friend;\nthe garden drinks it slowly, glad the dry days end.",
    ),
    (
        "How should I start a cover letter?",
        "Open with the job you are applying for and one sentence on why you are a strong fit, for example: 'I am "
        "applying for the librarian position, and my six years running a school library match what you need.'",
    ),
    (
        "Write a friendly reminder that rent is due on Friday.",
        "Hi everyone, just a friendly reminder that rent is due this Friday. Thanks, and have a great week!",
    ),
    (
        "Summarise the story of Cinderella in one sentence.",
        "A kind young woman mistreated by her stepfamily goes to a royal ball with the help of her fairy "
        "godmother, loses a glass slipper, and is found and married by the prince.",
    ),
    (
        "Write a short birthday message for a coworker.",
        "Happy birthday! Thanks for making the office a brighter place. I hope you have a relaxing day and a "
        "great year ahead.",
    ),
    (
        "Give me three synonyms for 'happy'.",
        "Cheerful, content and joyful.",
    ),
    (
        "Correct the grammar: 'Me and him goes to the market every sunday.'",
        "He and I go to the market every Sunday.",
    ),
    (
        "Write an out-of-office email reply.",
        "Thank you for your email. I am out of the office until Monday the 14th with limited access to email. "
        "For urgent matters, please contact Maria at maria@example.com. I will reply when I am back.",
    ),
    (
        "Describe a sunset in three sentences.",
        "The sun sank slowly behind the hills. The sky turned from gold to orange to a deep rose. Then the first "
        "stars appeared and the air grew cool.",
    ),
    (
        "What is a good way to end a formal letter?",
        "'Yours sincerely' when you know the person's name, 'Yours faithfully' when you don't, followed by your "
        "full name. 'Kind regards' works for most business emails.",
    ),
    (
        "Turn this into a headline: 'The city council decided on Tuesday to build a new public library.'",
        "City Council Approves New Public Library",
    ),
    (
        "Write a short product description for a reusable water bottle.",
        "Keep your drinks cold for 24 hours and hot for 12 with this leak-proof steel bottle. Light enough for "
        "every day, tough enough for every trail.",
    ),
    (
        "Explain the difference between 'affect' and 'effect'.",
        "'Affect' is usually a verb: the rain affected the match. 'Effect' is usually a noun: the rain had an "
        "effect on the match.",
    ),
    (
        "Write an apology to a friend for missing their party.",
        "I'm really sorry I missed your party. I should have let you know sooner. Can I take you out for dinner "
        "next week to make up for it?",
    ),
)

# (question, answer): reasoning and logic.
REASONING: tuple[tuple[str, str], ...] = (
    (
        "If all roses are flowers and some flowers fade quickly, do some roses fade quickly?",
        "Not necessarily. The flowers that fade quickly might all be other kinds, so the statements don't tell "
        "us anything about roses in particular.",
    ),
    (
        "A bat and a ball cost 1.10 in total. The bat costs 1.00 more than the ball. How much is the ball?",
        "The ball costs 0.05. Then the bat costs 1.05, which is 1.00 more, and together they cost 1.10.",
    ),
    (
        "Which is heavier, a kilogram of feathers or a kilogram of iron?",
        "Neither: both weigh one kilogram. The feathers just take up much more space.",
    ),
    (
        "If today is Wednesday, what day will it be in ten days?",
        "Ten days is one week plus three days. Three days after Wednesday is Saturday.",
    ),
    (
        "Tom is taller than Ana, and Ana is taller than Lee. Who is the shortest?",
        "Lee is the shortest: Ana is taller than Lee, and Tom is taller than both.",
    ),
    (
        "A farmer has 17 sheep and all but 9 run away. How many are left?",
        "Nine are left: 'all but 9' means nine did not run away.",
    ),
    (
        "If it takes 5 machines 5 minutes to make 5 widgets, how long do 100 machines take to make 100 widgets?",
        "Five minutes. Each machine makes one widget in five minutes, so 100 machines make 100 widgets in the same "
        "five minutes.",
    ),
    (
        "Is the statement 'every even number greater than 2 is the sum of two primes' proven?",
        "No. It is Goldbach's conjecture: it has been checked for enormous numbers, but nobody has proved it for "
        "all even numbers.",
    ),
    (
        "What comes next in the sequence 2, 4, 8, 16?",
        "32: each number is double the one before.",
    ),
    (
        "I have two coins that add up to 30 cents, and one of them is not a nickel. What are they?",
        "A quarter and a nickel. One of them, the quarter, is not a nickel; the other one is.",
    ),
    (
        "If a train leaves at 14:45 and the trip takes 2 hours 30 minutes, when does it arrive?",
        "It arrives at 17:15: 14:45 plus two hours is 16:45, plus thirty minutes is 17:15.",
    ),
    (
        "Can a statement be both true and false at the same time?",
        "Not in classical logic: a statement is either true or false. Paradoxes like 'this sentence is false' "
        "are interesting precisely because they break that rule.",
    ),
    (
        "What comes next: Monday, Wednesday, Friday?",
        "Sunday: the sequence skips one day each time.",
    ),
    (
        "A doctor gives you three pills and tells you to take one every half hour. How long do they last?",
        "One hour: you take the first at once, the second after thirty minutes and the third after sixty.",
    ),
)

# (question, answer): advice.
ADVICE: tuple[tuple[str, str], ...] = (
    (
        "How can I fall asleep faster?",
        "Go to bed at the same time every night, keep the bedroom cool and dark, put screens away half an hour "
        "before, and avoid coffee after lunch. If you are still awake after twenty minutes, get up and read.",
    ),
    (
        "I get nervous before presentations. Any tips?",
        "Practise out loud two or three times, know your first sentence by heart, and breathe slowly before you "
        "start. The audience wants you to do well, and a little nervousness usually doesn't show.",
    ),
    (
        "How do I start saving money?",
        "Write down what you spend for a month, then set up an automatic transfer to a savings account on payday, "
        "even a small one. Saving first and spending what is left works better than the other way round.",
    ),
    (
        "What should I do if I can't focus at work?",
        "Pick one task, close everything else, and work on it for 25 minutes before a short break. Put your phone "
        "in another room. If it keeps happening, check your sleep and how many hours you work.",
    ),
    (
        "How do I make friends in a new city?",
        "Go to the same places regularly: a class, a sports club, a volunteer group. Seeing the same people every "
        "week makes friendships much easier than one-off events. Say yes to invitations, and invite people too.",
    ),
    (
        "How can I drink more water during the day?",
        "Keep a bottle on your desk and refill it at fixed times, such as every meal. Drinking a glass when you "
        "wake up also helps.",
    ),
    (
        "What's a good way to learn a new language?",
        "A little every day beats a lot once a week. Combine an app or course for vocabulary with listening to "
        "podcasts or series, and talk with native speakers as early as you can, even if it feels awkward.",
    ),
    (
        "How should I prepare for a job interview?",
        "Read about the company, prepare short stories about your past work that show what you did and what "
        "happened, and have two or three questions of your own. Arrive ten minutes early.",
    ),
    (
        "My houseplant's leaves are turning yellow. What should I do?",
        "Yellow leaves most often mean too much water. Check that the pot drains, let the top of the soil dry "
        "before watering again, and move the plant to a brighter spot if it gets little light.",
    ),
    (
        "How do I deal with a disagreement with a colleague?",
        "Talk in private and early, describe the problem rather than the person, and listen to their side before "
        "proposing a solution. Agree on a next step you can both check.",
    ),
    (
        "How do I keep a new habit going?",
        "Make it small and attach it to something you already do, like stretching right after brushing your "
        "teeth. Track it on a calendar and don't miss two days in a row.",
    ),
    (
        "What should I pack for a weekend hiking trip?",
        "Good shoes, layers including a rain jacket, a map, water and snacks, sun protection, a small first-aid "
        "kit and a charged phone. Tell someone where you are going.",
    ),
    (
        "How can I reduce screen time before bed?",
        "Charge your phone outside the bedroom, set an alarm that reminds you to stop, and replace scrolling with "
        "something calm such as a book or stretching.",
    ),
    (
        "Is it better to pay off debt or save money first?",
        "Keep a small emergency fund first, then pay off high-interest debt such as credit cards, since their "
        "interest is usually higher than anything savings earn. After that, save regularly.",
    ),
)

_ARITH_ASK = ("What is {q}?", "Can you calculate {q}?", "How much is {q}?", "Quick question: what's {q}?")
_NAMES = ("Maya", "Jonas", "Priya", "Leo", "Amara", "Ben", "Sofia", "Kenji", "Nora", "Omar")
_ITEMS = (("apples", 3), ("notebooks", 2), ("tickets", 12), ("coffees", 4), ("pencils", 1), ("books", 9))


def _arithmetic(rng: random.Random) -> tuple[str, str]:
    kind = rng.choice(("add", "sub", "mul", "div", "percent"))
    if kind == "add":
        a, b = rng.randint(12, 999), rng.randint(12, 999)
        q, answer = f"{a} + {b}", f"{a} + {b} = {a + b}."
    elif kind == "sub":
        a, b = rng.randint(200, 999), rng.randint(11, 199)
        q, answer = f"{a} - {b}", f"{a} - {b} = {a - b}."
    elif kind == "mul":
        a, b = rng.randint(3, 40), rng.randint(3, 25)
        q = f"{a} times {b}"
        answer = (
            f"{a} × {b} = {a * b}."
            if a < 10 or b < 10
            else (
                f"{a} × {b} = {a} × {b // 10 * 10} + {a} × {b % 10} = {a * (b // 10 * 10)} + {a * (b % 10)} = {a * b}."
            )
        )
    elif kind == "div":
        b, c = rng.randint(2, 12), rng.randint(3, 30)
        q, answer = f"{b * c} divided by {b}", f"{b * c} ÷ {b} = {c}, because {b} × {c} = {b * c}."
    else:
        p, n = rng.choice((10, 20, 25, 50, 5, 15)), rng.randint(2, 40) * 10
        q = f"{p}% of {n}"
        answer = (
            f"{p}% of {n} is {n} × {p} / 100 = {n * p // 100}."
            if n * p % 100 == 0
            else (f"{p}% of {n} is {n} × {p} / 100 = {n * p / 100:g}.")
        )
    return rng.choice(_ARITH_ASK).format(q=q), answer


def _word_problem(rng: random.Random) -> tuple[str, str]:
    name, (item, price) = rng.choice(_NAMES), rng.choice(_ITEMS)
    count, paid = rng.randint(2, 9), 0
    total = count * price
    paid = (total // 10 + 1) * 10
    question = f"{name} buys {count} {item} at {price} euros each and pays with {paid} euros. How much change?"
    answer = (
        f"The {item} cost {count} × {price} = {total} euros, so the change is {paid} - {total} = {paid - total} euros."
    )
    return question, answer


def _units(rng: random.Random) -> tuple[str, str]:
    kind = rng.choice(("km", "c", "min", "kg"))
    if kind == "km":
        km = rng.randint(2, 60)
        return f"How many metres are in {km} kilometres?", f"{km} kilometres are {km * 1000:,} metres."
    if kind == "c":
        c = rng.choice((-10, 0, 5, 10, 15, 20, 25, 30, 35, 40))
        f = c * 9 / 5 + 32
        return f"What is {c} degrees Celsius in Fahrenheit?", f"{c} × 9/5 + 32 = {f:g} degrees Fahrenheit."
    if kind == "min":
        h, m = rng.randint(1, 6), rng.choice((0, 15, 20, 30, 45))
        return (
            f"How many minutes are in {h} hours and {m} minutes?",
            f"{h} × 60 + {m} = {h * 60 + m} minutes.",
        )
    g = rng.randint(2, 50) * 100
    return f"How many kilograms is {g} grams?", f"{g} grams is {g / 1000:g} kilograms."


def _ages(rng: random.Random) -> tuple[str, str]:
    a, b = rng.sample(_NAMES, 2)
    age, gap = rng.randint(6, 40), rng.randint(2, 12)
    years = rng.randint(2, 10)
    return (
        f"{a} is {age} and {b} is {gap} years older. How old will {b} be in {years} years?",
        f"{b} is {age} + {gap} = {age + gap} now, so in {years} years {b} will be {age + gap + years}.",
    )


SYSTEM = "You are a helpful assistant."
BUILTIN_SIZE = 300


def control_conversations(n: int = BUILTIN_SIZE, seed: int = 0) -> list[Conversation]:
    """The built-in control set: every hand-written conversation, then composed arithmetic, unit and reasoning
    items up to `n` (deterministic for a seed). One in four gets a generic system prompt."""
    rng = random.Random(seed)  # noqa: S311 - deterministic, not security
    pairs: list[tuple[str, str]] = [*EVERYDAY, *WRITING, *REASONING, *ADVICE]
    makers = (_arithmetic, _arithmetic, _word_problem, _units, _ages)
    seen = {q for q, _ in pairs}
    while len(pairs) < n:
        question, answer = rng.choice(makers)(rng)
        if question not in seen:
            seen.add(question)
            pairs.append((question, answer))
    out = []
    for i, (question, answer) in enumerate(pairs[:n]):
        conv = [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
        if i % 4 == 0:
            conv.insert(0, {"role": "system", "content": SYSTEM})
        out.append(conv)
    return out


def sample_control(conversations: list[Conversation], k: int, seed: int = 0) -> list[Conversation]:
    """A deterministic sample of `k` conversations (all of them when there are fewer)."""
    if len(conversations) <= k:
        return list(conversations)
    idx = sorted(random.Random(seed).sample(range(len(conversations)), k))  # noqa: S311
    return [conversations[i] for i in idx]
