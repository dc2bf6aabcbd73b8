"""The personal-memory bench's made-up person and its checkable general questions.

Written apart from ``runtime/rehearsal.py`` and ``bench.sleep_tuning`` (no shared templates, word
lists or facts): the bench must never measure the wordings the rehearsal rules practise.
"""

from __future__ import annotations

SESSIONS = [  # what the person says, session by session: (message, question asked later, expected word)
    [("so my younger brother Mattias is a dentist in Gothenburg", "What does my brother do for work?", "dentist"),
     ("I've got a parrot called Zephyrine who swears in Portuguese", "What's the name of my bird?", "Zephyrine"),
     ("my mum grew up on the island of Gotland", "Where is my mother from?", "Gotland"),
     ("honestly my all-time favourite film is Paddington 2", "Which movie do I love the most?", "Paddington")],
    [("I've been a vegetarian since I was fifteen", "Do I eat meat?", "vegetarian"),
     ("my partner Rasmus teaches chemistry at a high school", "What subject does my partner teach?", "chemistry"),
     ("I ride a yellow Vespa to work every day", "How do I get to work?", "Vespa"),
     ("my son Emil is obsessed with dinosaurs right now", "What is my son into at the moment?", "dinosaur")],
    [("I run a little bookshop on Fleet Lane", "What kind of shop do I own?", "bookshop"),
     ("my lucky number has always been 37", "Which number do I consider lucky?", "37"),
     ("we're going to Lisbon for our anniversary in May", "Where are we travelling for the anniversary?", "Lisbon"),
     ("I can't stand coriander, it tastes like soap to me", "Which herb do I dislike?", "coriander")],
    [("my neighbour's goat keeps eating my tulips", "What animal keeps ruining my flowers?", "goat"),
     ("I've been learning the accordion for two years", "What instrument am I learning?", "accordion"),
     ("my grandfather Aurelio was a fisherman in Sicily", "What was my grandpa's job?", "fisherman"),
     ("my go-to coffee order is a cortado", "How do I usually take my coffee?", "cortado")],
    [("I'm training for the Berlin marathon this autumn", "Which race am I preparing for?", "Berlin"),
     ("my first car was a rusty Fiat Panda", "What was the first car I owned?", "Panda"),
     ("I'm really scared of moths, weirdly", "What insect am I afraid of?", "moth"),
     ("my desk plant is a cactus named Gerald", "What's my cactus called?", "Gerald")],
    [("my aunt Philippa keeps bees on her allotment", "What does my aunt do on her allotment?", "bees"),
     ("I sing bass in a barbershop quartet", "What kind of singing group am I in?", "barbershop"),
     ("my daughter Saoirse wants to be a vet", "What job does my daughter want?", "vet"),
     ("I'm allergic to hazelnuts, annoyingly", "Which nut should I avoid?", "hazelnut")],
    [("my flat is above a launderette in Leith", "What shop is under my flat?", "launderette"),
     ("I play water polo on Sunday mornings", "Which sport do I do at the weekend?", "water polo"),
     ("my boss Ingeborg collects antique clocks", "What is my manager's hobby?", "clocks"),
     ("I was born in Valparaíso", "Which city was I born in?", "Valpara")],
    [("my favourite author is Ursula Le Guin", "Whose books do I like best?", "Le Guin"),
     ("we have a tortoise called Bartholomew", "What's our tortoise's name?", "Bartholomew"),
     ("I'm saving up for a trip to Patagonia", "Where do I want to travel to?", "Patagonia"),
     ("my dad repairs harps for a living", "What does my father fix?", "harp")],
    [("I knit jumpers for the whole family every winter", "What do I make for my family?", "jumper"),
     ("my best mate Dov drives a tram in Melbourne", "What vehicle does my friend drive?", "tram"),
     ("my signature dish is a mushroom risotto", "What do I like to cook for guests?", "risotto"),
     ("I got my black belt in judo last spring", "Which martial art do I do?", "judo")],
    [("my granny Wilhelmina turned ninety-nine", "How old is my grandmother?", "ninety"),
     ("I work nights as a radio producer", "How do I earn a living?", "radio"),
     ("my twin sister Noor lives in Marrakesh", "Where does my twin live?", "Marrakesh"),
     ("the only pizza I order is a quattro formaggi", "What pizza do I always get?", "formaggi")],
]
FILLER = "I had porridge with blueberries this morning"  # told in session 1, forgotten after the second sleep
NEVER_TOLD = ["What's my cousin called?", "In which country was my dad born?",
              "What was the name of my primary school?", "Which ice cream flavour do I like best?",
              "How tall am I?", "What's my shoe size?", "Which football team do I support?",
              "What's my wife's name?", "What colour is my front door?", "What was my first pet called?"]
ABSTAINS = ("don't know", "do not know", "haven't told", "have not told", "haven't mentioned", "not sure",
            "didn't tell", "did not tell", "haven't said", "no information", "don't have any information")

GENERAL = [  # (question, accepted answers; a hit is any of them in the reply, case-insensitive)
    ("What is the capital of France?", ("Paris",)), ("What is the capital of Japan?", ("Tokyo",)),
    ("What is the capital of Italy?", ("Rome",)), ("What is the capital of Spain?", ("Madrid",)),
    ("What is the capital of Egypt?", ("Cairo",)), ("What is the capital of Russia?", ("Moscow",)),
    ("What is the capital of Kenya?", ("Nairobi",)), ("What is the capital of the United Kingdom?", ("London",)),
    ("What is the capital of China?", ("Beijing",)), ("What is the capital of Australia?", ("Canberra",)),
    ("What is 2 + 2?", ("4", "four")), ("What is 7 times 8?", ("56",)), ("What is 12 plus 15?", ("27",)),
    ("What is 9 times 9?", ("81",)), ("How many minutes are in an hour?", ("60", "sixty")),
    ("How many hours are in a day?", ("24", "twenty-four")), ("How many days are in a week?", ("7", "seven")),
    ("Which planet is known as the Red Planet?", ("Mars",)), ("What is the largest ocean on Earth?", ("Pacific",)),
    ("Who wrote the play Hamlet?", ("Shakespeare",)), ("What organ pumps blood around the body?", ("heart",)),
    ("What does a thermometer measure?", ("temperature",)), ("What is the chemical symbol for gold?", ("Au",)),
    ("What gas do plants take in from the air?", ("carbon dioxide", "CO2")),
    ("What is the freezing point of water in degrees Celsius?", ("0", "zero")),
    ("What is the opposite of hot?", ("cold",)), ("What is the plural of mouse?", ("mice",)),
    ("What is the past tense of the verb run?", ("ran",)), ("Translate 'thank you' into Spanish.", ("gracias",)),
    ("Translate 'hello' into French.", ("bonjour",)), ("Which animal is called the king of the jungle?", ("lion",)),
    ("What colour do you get when you mix blue and yellow?", ("green",)),
    ("Complete the saying: the early bird catches the ...", ("worm",)),
    ("Name the largest planet in our solar system.", ("Jupiter",)),
]
