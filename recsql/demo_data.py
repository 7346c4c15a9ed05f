"""A seeded demo shop: a year of grocery orders with learnable structure and real-world dirt.

Structure a ranker can learn (and popularity alone cannot): users have a taste over
categories (a Dirichlet concentrated on a few), favourite brands from those categories and a
price level; activity is heavy-tailed; each user re-buys a few staples at their own rhythm;
items rise and fade, a tenth surge briefly, a fifth launch during the year (never bought
before they exist); titles and descriptions are built from brand, category and attributes, so
text similarity means something.

Dirt, each kind at a known rate (``DIRT_RATES``) and counted exactly in the summary, so a
test can check that the dbt quarantine finds each one. Every dirty row carries exactly one
kind of dirt and the clean rows carry none: baskets never repeat an item (no accidental
duplicates), paid prices stay within 0.8-1x the list price (no accidental outliers).

Invoice-shaped dirt, as a real shop's export has it: half the credit notes carry numbers of
their own (a return must be matched to the purchase by user and item, not by order id),
service lines (postage 99990, manual adjustments 99991) ride along in some orders, and some
lines of an order repeat an item (to be merged into one event). Quarantine the service lines
with ``--vars '{non_product_item_ids: [99990, 99991]}'`` (``make demo`` does); without it they
are ``unknown_item`` (the catalog does not list them).

Everything is vectorised with numpy and pyarrow (Python loops only over catalog items and
categories); the same seed gives byte-identical files.
"""

from __future__ import annotations

import os
import time as clock
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from recsql import progress

# Kind of dirt -> rate. Interaction kinds are a share of the clean purchase rows; each picks
# distinct rows (a row gets at most one kind), so the counts in DemoDataSummary.dirt are exact.
DIRT_RATES: dict[str, float] = {
    "duplicate": 0.010,  # an exact copy of a clean row, appended
    "return": 0.015,  # a later row: event_type 'return', quantity -bought (a fifth partial),
    #                   order_id 'C' + the original's, 1-20 days after, never after the end
    "missing_user_id": 0.005,  # user_id NULL
    "missing_item_id": 0.005,  # item_id NULL
    "non_positive_price": 0.005,  # price 0 or minus the paid price
    "price_outlier": 0.003,  # price x100 or /100 (a typo in the decimal point)
    "unknown_item": 0.005,  # an item_id just past the catalog's ids: a retired SKU
    "future_event_ts": 0.002,  # event_ts somewhere in 2090-2099
    "odd_unicode_title": 0.020,  # of catalog titles: full-width letters, odd spaces, or case
    # invoice-shaped dirt, drawn from a random stream of its own (the rows above stay as they were)
    "non_product": 0.030,  # of orders: a service line appended, postage (a fixed price) or, a
    #                        tenth as often, a manual adjustment (any price); not in the catalog
    "merged_line": 0.005,  # a clean line of quantity 3 split in two lines of its order (1 + 2)
}
CREDIT_NOTE_SHARE = (
    0.5  # returns on a credit note numbered on its own ('C' + CREDIT_NOTE_BASE + k),
)
#                          where the returned purchase is the user's latest of that item (so the
#                          return still finds it); the others carry 'C' + the original order id
CREDIT_NOTE_BASE = 9_000_000
POSTAGE_ITEM_ID, MANUAL_ITEM_ID = 99_990, 99_991  # service codes, below the catalog's SKUs
POSTAGE_PRICE = 4.95
ITEM_ID_BASE = 100_000  # item i is SKU 100000 + i
ORDER_ID_BASE = 500_000  # orders are numbered in time order from here (as in UCI Online Retail)
MISSING_DESCRIPTION_RATE = 0.02
MISSING_BRAND_RATE = 0.02
LAUNCHED_IN_PERIOD_RATE = 0.20  # items created during the period; the rest existed before it
MAX_BASKET = 6  # items in one order (staples that would overflow it go in an order of their own)
SURGE_RATE = 0.10  # items whose popularity is a short spike (weeks, not months)

SIZES = {
    "mass": ["100g", "250g", "400g", "500g", "1kg"],
    "volume": ["330ml", "500ml", "750ml", "1L", "2L"],
    "count": ["4 pack", "6 pack", "12 pack", "24 pack", "family pack"],
}


class Category(NamedTuple):
    price: float  # typical list price
    nouns: list[str]
    attributes: list[str]  # flavour, diet, variety
    size: str  # key of SIZES
    use: str  # what it is for, in descriptions


CATEGORIES: dict[str, Category] = {
    "Dairy": Category(
        2.5,
        ["Greek Yoghurt", "Whole Milk", "Butter", "Cheddar", "Skyr", "Cream Cheese"],
        ["Organic", "Low Fat", "Lactose Free", "Vanilla", "Natural"],
        "mass",
        "breakfast bowls, baking and cooking",
    ),
    "Bakery": Category(
        3.0,
        ["Sourdough Loaf", "Croissants", "Rye Bread", "Bagels", "Brioche"],
        ["Wholegrain", "Seeded", "Gluten Free", "Butter", "Rustic"],
        "count",
        "toast, sandwiches and lazy weekend breakfasts",
    ),
    "Coffee": Category(
        7.0,
        ["Ground Coffee", "Coffee Beans", "Espresso Pods", "Instant Coffee"],
        ["Dark Roast", "Decaf", "Single Origin", "Fairtrade", "Mild"],
        "mass",
        "espresso, filter or a cafetiere at home",
    ),
    "Tea": Category(
        4.0,
        ["Green Tea", "Black Tea", "Herbal Tea", "Chai"],
        ["Mint", "Earl Grey", "Chamomile", "Ginger", "Organic"],
        "count",
        "a calm cup at any time of day",
    ),
    "Pet Food": Category(
        9.0,
        ["Dog Food", "Cat Food", "Dog Treats", "Cat Litter"],
        ["Chicken", "Salmon", "Grain Free", "Puppy", "Senior"],
        "mass",
        "feeding dogs and cats a balanced diet",
    ),
    "Baby": Category(
        8.0,
        ["Nappies", "Baby Wipes", "Baby Formula", "Baby Puree"],
        ["Sensitive", "Size 3", "Organic", "Fragrance Free"],
        "count",
        "babies and toddlers, gentle on delicate skin",
    ),
    "Fruit": Category(
        2.0,
        ["Bananas", "Apples", "Blueberries", "Avocados", "Oranges"],
        ["Organic", "Ripe", "Seasonal", "Loose", "Family Pack"],
        "mass",
        "snacking, smoothies and lunchboxes",
    ),
    "Vegetables": Category(
        1.8,
        ["Spinach", "Carrots", "Broccoli", "Tomatoes", "Peppers"],
        ["Organic", "Baby", "Cherry", "Mixed", "Fresh"],
        "mass",
        "salads, stir fries and roasting",
    ),
    "Meat": Category(
        6.5,
        ["Chicken Breast", "Beef Mince", "Pork Sausages", "Bacon"],
        ["Free Range", "Lean", "Smoked", "Organic", "Outdoor Bred"],
        "mass",
        "grilling, roasting and family dinners",
    ),
    "Fish": Category(
        7.5,
        ["Salmon Fillets", "Cod Loins", "Prawns", "Tuna Steaks"],
        ["Wild", "Smoked", "Frozen", "MSC", "Lemon Pepper"],
        "mass",
        "quick suppers, pan frying and baking",
    ),
    "Snacks": Category(
        2.2,
        ["Crisps", "Popcorn", "Pretzels", "Rice Cakes", "Nuts"],
        ["Sea Salt", "Sweet Chilli", "Salted", "Cheese", "Honey Roasted"],
        "mass",
        "parties, film nights and the afternoon dip",
    ),
    "Chocolate": Category(
        2.8,
        ["Milk Chocolate", "Dark Chocolate", "Chocolate Bar", "Truffles"],
        ["70% Cocoa", "Hazelnut", "Sea Salt", "Orange", "Vegan"],
        "mass",
        "treats, gifts and baking",
    ),
    "Cereal": Category(
        3.5,
        ["Granola", "Porridge Oats", "Muesli", "Corn Flakes"],
        ["Honey", "Nut", "Berry", "Low Sugar", "Wholegrain"],
        "mass",
        "breakfast with milk or yoghurt",
    ),
    "Pasta": Category(
        1.6,
        ["Spaghetti", "Penne", "Fusilli", "Lasagne Sheets", "Tagliatelle"],
        ["Durum Wheat", "Wholewheat", "Egg", "Gluten Free", "Bronze Cut"],
        "mass",
        "weeknight dinners with any sauce",
    ),
    "Sauces": Category(
        2.4,
        ["Pasta Sauce", "Pesto", "Ketchup", "Mayonnaise", "Curry Paste"],
        ["Basil", "Tomato", "Garlic", "Spicy", "Light"],
        "volume",
        "pasta, dips and quick curries",
    ),
    "Frozen": Category(
        3.8,
        ["Pizza", "Ice Cream", "Frozen Peas", "Fish Fingers", "Chips"],
        ["Margherita", "Vanilla", "Garden", "Crispy", "Family Size"],
        "mass",
        "the freezer, ready when you are",
    ),
    "Drinks": Category(
        1.9,
        ["Orange Juice", "Sparkling Water", "Cola", "Lemonade", "Oat Drink"],
        ["No Added Sugar", "Still", "Zero", "Barista", "Cloudy"],
        "volume",
        "the fridge, meals and hot days",
    ),
    "Beer & Wine": Category(
        8.5,
        ["Lager", "IPA", "Red Wine", "White Wine", "Cider"],
        ["Craft", "Alcohol Free", "Dry", "Session", "Vintage"],
        "volume",
        "barbecues, dinners and celebrations",
    ),
    "Household": Category(
        4.5,
        ["Washing Up Liquid", "Laundry Detergent", "Kitchen Roll", "Bin Bags"],
        ["Lemon", "Eco", "Bio", "Non Bio", "Extra Strong"],
        "count",
        "cleaning the kitchen and the laundry",
    ),
    "Personal Care": Category(
        4.2,
        ["Shampoo", "Toothpaste", "Shower Gel", "Deodorant", "Hand Soap"],
        ["Sensitive", "Whitening", "Coconut", "Men", "Unscented"],
        "volume",
        "the bathroom and everyday hygiene",
    ),
    "Health": Category(
        6.0,
        ["Vitamin D", "Multivitamins", "Protein Powder", "Omega 3"],
        ["Vegan", "Chewable", "Chocolate", "High Strength", "Kids"],
        "count",
        "daily wellbeing and training",
    ),
    "Canned": Category(
        1.4,
        ["Chickpeas", "Chopped Tomatoes", "Baked Beans", "Sweetcorn", "Coconut Milk"],
        ["Organic", "Reduced Salt", "In Water", "Light", "Premium"],
        "mass",
        "the store cupboard, stews and curries",
    ),
    "Rice & Grains": Category(
        2.6,
        ["Basmati Rice", "Quinoa", "Couscous", "Risotto Rice"],
        ["Brown", "Wholegrain", "Microwave", "Organic", "Tri Colour"],
        "mass",
        "side dishes, bowls and salads",
    ),
    "Spreads": Category(
        3.1,
        ["Peanut Butter", "Jam", "Honey", "Chocolate Spread"],
        ["Crunchy", "Smooth", "Strawberry", "Raw", "No Palm Oil"],
        "mass",
        "toast, porridge and baking",
    ),
}
BRAND_PARTS = (
    ["Alpen", "Nord", "Green", "Sun", "Oak", "River", "Golden", "Silver", "Blue", "Red", "Wild",
     "Happy", "Pure", "True", "Old", "Little", "Grand", "Fresh", "Bright", "Stone"],
    ["hof", "field", "vale", "brook", "farm", "leaf", "mill", "ridge", "bay", "wood", "crest",
     "dale", "moor", "glen", "haven"],
    ["", " Foods", " & Co", " Kitchen", " Organics", " Pantry", " Market", " Provisions"],
)  # fmt: skip
DESCRIPTIONS = [  # 15-30 words: category, attribute, brand, size and use, in varied order
    "{attr} {noun} from {brand}, part of our {category} range. Sold as {size}, ideal for {use}.",
    "{brand} {noun} ({size}): {attr}, made with care and loved for {use}."
    " Find it with the rest of our {category}.",
    "Our {category} shelf favourite. {attr} {noun} by {brand}, {size}, perfect for {use}.",
    "{attr} and full of flavour, this {noun} from {brand} comes as {size} for {use} ({category}).",
]
SEGMENTS = (["north", "south", "east", "west", "online"], [0.25, 0.25, 0.2, 0.2, 0.1])
AGE_BANDS = (
    ["18-24", "25-34", "35-44", "45-54", "55-64", "65+"],
    [0.12, 0.24, 0.22, 0.18, 0.14, 0.1],
)


@dataclass
class DemoDataSummary:
    """What was written: files, row counts and the exact number of each kind of dirt."""

    out_dir: Path
    files: dict[str, Path]
    rows: dict[str, int]
    dirt: dict[str, int] = field(default_factory=dict)  # kind -> injected count, DIRT_RATES order
    seconds: float = 0.0


def generate_demo_data(
    out_dir: Path,
    *,
    users: int = 10_000,
    items: int = 4_000,
    days: int = 365,
    orders_per_user: float = 10.0,
    seed: int = 42,
    fmt: str = "parquet",
    end_date: date = date(2025, 12, 31),
    show_progress: bool = False,
) -> DemoDataSummary:
    """Write ``interactions``, ``items`` and ``users`` (Parquet or CSV) for a seeded demo shop.

    The period is the ``days`` days ending with ``end_date`` (inclusive); ``orders_per_user``
    is the mean number of baskets of a user active all period (activity is heavy-tailed
    around it; staples come on top). Files are replaced atomically. Raises ``ValueError`` on
    impossible sizes and ``OSError`` when the folder cannot be written.
    """
    if users < 1 or items < 10 or days < 14:
        raise ValueError(
            f"need at least 1 user, 10 items and 14 days (got {users}, {items}, {days})"
        )
    if orders_per_user <= 0:
        raise ValueError(f"orders_per_user must be positive, not {orders_per_user}")
    if fmt not in ("parquet", "csv"):
        raise ValueError(f"format must be parquet or csv, not {fmt!r}")
    started = clock.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    start = datetime.combine(end_date, datetime.min.time()) + timedelta(days=1 - days)
    with progress.bar(
        total=7, desc="recsql demo-data", unit="step", disable=not show_progress
    ) as bar:
        bar.set_postfix_str("catalog")
        catalog = _make_catalog(rng, items, days)
        bar.update()
        bar.set_postfix_str("users")
        people = _make_users(rng, users, catalog, days)
        bar.update()
        bar.set_postfix_str("orders")
        events = _make_purchases(rng, people, catalog, days, orders_per_user)
        bar.update()
        bar.set_postfix_str("dirt")
        invoice_rng = np.random.default_rng([seed, 1])  # its own stream: older dirt unchanged
        events, dirt = _inject_dirt(rng, events, catalog, start, days, invoice_rng)
        titles = _dirty_titles(rng, catalog["title"])
        dirt["odd_unicode_title"] = sum(
            a != b for a, b in zip(titles, catalog["title"], strict=True)
        )
        catalog["title"] = titles
        bar.update()
        tables = {
            "interactions": _interactions_table(events, people, start),
            "items": _items_table(catalog, start),
            "users": _users_table(people, start),
        }
        files = {}
        for name, table in tables.items():
            bar.set_postfix_str(f"write {name}")
            files[name] = _write(table, out_dir / f"{name}.{fmt}", fmt)
            bar.update()
    return DemoDataSummary(
        out_dir=out_dir,
        files=files,
        rows={name: table.num_rows for name, table in tables.items()},
        dirt={kind: int(dirt[kind]) for kind in DIRT_RATES},
        seconds=clock.perf_counter() - started,
    )


# --- catalog and users ------------------------------------------------------------------------


def _make_catalog(rng: np.random.Generator, n: int, days: int) -> dict:
    names = list(CATEGORIES)
    specs = list(CATEGORIES.values())
    category = rng.choice(len(names), size=n, p=rng.dirichlet(np.full(len(names), 3.0)))
    # brands: each sells in one to three categories; an item's brand is one of its category's
    brand_count = max(8, n // 25)
    brand_names = np.array([_brand_name(i) for i in range(brand_count)])
    brand_categories = rng.integers(0, len(names), size=(brand_count, 3))
    brand_categories[:, 1:][rng.random((brand_count, 2)) < 0.3] = -1  # some brands specialise
    brand = rng.integers(0, brand_count, size=n)  # fallback when no brand makes a category
    for c in range(len(names)):
        makers = np.flatnonzero((brand_categories == c).any(axis=1))
        in_category = np.flatnonzero(category == c)
        if len(makers) and len(in_category):
            brand[in_category] = makers[rng.integers(0, len(makers), size=len(in_category))]
    n_nouns = np.array([len(s.nouns) for s in specs])[category]
    n_attributes = np.array([len(s.attributes) for s in specs])[category]
    noun = (rng.random(n) * n_nouns).astype(np.int64)
    attribute = (rng.random(n) * n_attributes).astype(np.int64)
    size = rng.integers(0, 5, size=n)
    template = rng.integers(0, len(DESCRIPTIONS), size=n)
    # list price: lognormal around the category's level, nudged by the brand's premium
    brand_premium = rng.lognormal(0.0, 0.25, size=brand_count)
    level = np.array([s.price for s in specs])[category]
    price = np.round(np.maximum(level * brand_premium[brand] * rng.lognormal(0, 0.3, n), 0.25), 2)
    # lifecycle: launched before the period or during it; popularity a bump around a peak
    launched = rng.random(n) < LAUNCHED_IN_PERIOD_RATE
    created_day = np.where(launched, rng.integers(0, days - 7, n), -rng.integers(30, 720, n))
    peak_day = np.where(
        launched, created_day + rng.integers(7, 60, n), rng.integers(-120, days + 60, n)
    )
    width = np.where(rng.random(n) < SURGE_RATE, rng.uniform(10, 25, n), rng.uniform(60, 240, n))
    appeal = rng.lognormal(0.0, 1.0, size=n)
    titles, descriptions = [], []
    for i in range(n):  # per catalog item (tens of thousands at most), not per event
        spec = specs[category[i]]
        words = {
            "brand": brand_names[brand[i]],
            "attr": spec.attributes[attribute[i]],
            "noun": spec.nouns[noun[i]],
            "size": SIZES[spec.size][size[i]],
            "category": names[category[i]].lower(),
            "use": spec.use,
        }
        titles.append("{brand} {attr} {noun} {size}".format(**words))
        descriptions.append(DESCRIPTIONS[template[i]].format(**words))
    no_description = rng.random(n) < MISSING_DESCRIPTION_RATE
    return {
        "item_id": ITEM_ID_BASE + np.arange(n, dtype=np.int64),
        "category": category,
        "category_names": names,
        "brand": brand,
        "brand_names": brand_names,
        "has_brand": rng.random(n) >= MISSING_BRAND_RATE,
        "price": price,
        "created_day": created_day,
        "peak_day": peak_day,
        "width": width,
        "appeal": appeal,
        "title": titles,
        "description": [
            None if gone else d for d, gone in zip(descriptions, no_description, strict=True)
        ],
    }


def _brand_name(i: int) -> str:
    first, second, third = BRAND_PARTS
    name = f"{first[i % len(first)]}{second[(i // len(first)) % len(second)]}"
    combos = len(first) * len(second)
    name += third[(i // combos) % len(third)]
    return name if i < combos * len(third) else f"{name} {i // (combos * len(third)) + 1}"


def _make_users(rng: np.random.Generator, n: int, catalog: dict, days: int) -> dict:
    categories = len(catalog["category_names"])
    taste = rng.dirichlet(np.full(categories, 0.25), size=n)  # a few categories carry most mass
    activity = np.clip(rng.lognormal(0.0, 0.9, size=n), 0.1, 15.0)  # most shop little, a few a lot
    price_level = rng.lognormal(0.0, 0.35, size=n)
    signup_day = np.where(
        rng.random(n) < 0.6, -rng.integers(1, 1000, n), rng.integers(0, max(1, days - 14), n)
    )
    # favourite brands: the brands of four items drawn from the user's own categories
    favourite_category = _draw_categories(rng, taste, np.repeat(np.arange(n), 4)).reshape(n, 4)
    order = np.argsort(catalog["category"], kind="stable")
    counts = np.bincount(catalog["category"], minlength=categories)
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
    pick = offsets[favourite_category] + (
        rng.random(favourite_category.shape) * counts[favourite_category]
    )
    pick = np.minimum(pick.astype(np.int64), len(order) - 1)
    favourite_brands = np.where(
        counts[favourite_category] > 0,
        catalog["brand"][order[pick]],
        rng.integers(0, len(catalog["brand_names"]), size=favourite_category.shape),
    )
    width = max(6, len(str(n - 1)))
    user_ids = pc.utf8_lpad(pc.cast(pa.array(np.arange(n)), pa.string()), width, "0")
    return {
        "user_id": pc.binary_join_element_wise("u", user_ids, ""),
        "taste": taste,
        "activity": activity,
        "price_level": price_level,
        "signup_day": signup_day,
        "favourite_brands": favourite_brands,
        "segment": rng.choice(SEGMENTS[0], size=n, p=SEGMENTS[1]),
        "age_band": rng.choice(AGE_BANDS[0], size=n, p=AGE_BANDS[1]),
    }


def _draw_categories(rng: np.random.Generator, taste: np.ndarray, owners: np.ndarray) -> np.ndarray:
    """One category per entry of ``owners`` from that owner's row of ``taste``.

    Row i's cumulative weights are shifted into [i, i + 1], so one ``searchsorted`` over the
    flattened rows serves every draw: memory stays O(draws), not O(draws x categories).
    """
    width = taste.shape[1]
    cumulative = np.cumsum(taste, axis=1)
    cumulative /= cumulative[:, -1:]
    flat = (cumulative + np.arange(len(taste))[:, None]).ravel()
    position = np.searchsorted(flat, owners + rng.random(len(owners)), side="right")
    return np.clip(position - owners * width, 0, width - 1)


# --- purchases --------------------------------------------------------------------------------


def _item_sampler(catalog: dict, days: int) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Per category: its items and cumulative weights per week (appeal x lifecycle x launched)."""
    weeks = days // 7 + 1
    mid_day = np.arange(weeks)[:, None] * 7 + 3.5
    tables = {}
    for c in range(len(catalog["category_names"])):
        items = np.flatnonzero(catalog["category"] == c)
        if not len(items):
            continue
        offset = (mid_day - catalog["peak_day"][items]) / catalog["width"][items]
        launched = mid_day >= catalog["created_day"][items]
        weights = catalog["appeal"][items] * (0.15 + np.exp(-0.5 * offset**2)) * launched
        tables[c] = (items, np.cumsum(weights, axis=1))
    return tables


def _make_purchases(
    rng: np.random.Generator, people: dict, catalog: dict, days: int, orders_per_user: float
) -> dict:
    n_users = len(people["activity"])
    first_day = np.clip(people["signup_day"], 0, days - 1)
    span = days - first_day
    expected = orders_per_user * people["activity"] * span / days
    orders = rng.poisson(expected) + (rng.random(n_users) < 0.7)
    order_user = np.repeat(np.arange(n_users), orders)
    # a day in the user's active span, mostly shopped between 8:00 and 21:00
    day = first_day[order_user] + np.floor(rng.random(len(order_user)) * span[order_user])
    order_time = day + _time_of_day(rng, len(order_user))
    basket = np.minimum(rng.geometric(0.4, size=len(order_user)), MAX_BASKET)
    slot_order = np.repeat(np.arange(len(order_user)), basket)
    slot_user = order_user[slot_order]
    slot_time = order_time[slot_order]
    slot_category = _draw_categories(rng, people["taste"], slot_user)

    # three draws per slot from the (category, week) popularity; the user keeps the best fit
    week = (slot_time // 7).astype(np.int64)
    samplers = _item_sampler(catalog, days)
    draws = np.full((len(slot_user), 3), -1, dtype=np.int64)
    key = slot_category * (days // 7 + 1) + week
    # small keys sort by radix (a stable sort of int16 is linear)
    order = np.argsort(
        key.astype(np.int16 if key.max(initial=0) < 2**15 else np.int64), kind="stable"
    )
    boundaries = np.flatnonzero(np.diff(key[order])) + 1
    for group in np.split(order, boundaries):  # one group per (category, week)
        c, w = int(slot_category[group[0]]), int(week[group[0]])
        if c not in samplers:
            continue
        items, cumulative_weights = samplers[c]
        row = cumulative_weights[min(w, len(cumulative_weights) - 1)]
        if row[-1] <= 0:
            continue
        picks = np.searchsorted(row, rng.random((len(group), 3)) * row[-1], side="right")
        draws[group] = items[np.minimum(picks, len(items) - 1)]
    valid = draws[:, 0] >= 0
    draws, slot_user, slot_time, slot_order = (
        draws[valid],
        slot_user[valid],
        slot_time[valid],
        slot_order[valid],
    )
    favourites = people["favourite_brands"][slot_user][:, None, :]
    brand_match = (catalog["brand"][draws][:, :, None] == favourites).any(axis=2)
    level = np.array([spec.price for spec in CATEGORIES.values()])[catalog["category"][draws]]
    wanted = level * people["price_level"][slot_user][:, None]
    price_fit = -np.abs(np.log(catalog["price"][draws] / wanted))
    score = 1.5 * brand_match + 1.2 * price_fit + rng.gumbel(size=draws.shape)
    slot_item = draws[np.arange(len(draws)), score.argmax(axis=1)]

    # staples join the user's nearest basket within three days, else make an order of their own
    staple_user, staple_item, staple_time = _staples(rng, people, catalog, first_day, days)
    staple_order = _nearest_order(order_user, order_time, staple_user, staple_time, days, 3.0)
    joined = staple_order >= 0
    basket_time = np.where(joined, order_time[np.maximum(staple_order, 0)], staple_time)
    staple_order[~joined] = len(order_user) + np.arange(int((~joined).sum()))
    rows = {
        "user": np.concatenate([slot_user, staple_user]),
        "item": np.concatenate([slot_item, staple_item]),
        "time": np.concatenate([slot_time, basket_time]),
        "own_time": np.concatenate([slot_time, staple_time]),
        "order": np.concatenate([slot_order, staple_order]),
        "is_staple": np.r_[np.zeros(len(slot_user), bool), np.ones(len(staple_user), bool)],
    }
    # drop picks made in a launch week before the launch day
    launched = rows["time"] >= catalog["created_day"][rows["item"]]
    rows = {name: values[launched] for name, values in rows.items()}
    rows = _fill_baskets(rows, len(catalog["price"]), len(order_user) + len(staple_user))
    n = len(rows["user"])
    quantity = np.where(rng.random(n) < 0.85, 1, rng.integers(2, 4, size=n))
    discount = rng.choice([1.0, 1.0, 1.0, 0.9, 0.8], size=n)  # promotions
    paid = np.round(catalog["price"][rows["item"]] * discount, 2)
    ordering, number = _number_orders_by_time(rows["order"], rows["time"], rows["item"])
    return {
        "user": rows["user"][ordering],
        "item": rows["item"][ordering],
        "time": rows["time"][ordering],
        "quantity": quantity[ordering],
        "price": paid[ordering],
        "order": ORDER_ID_BASE + number,
    }


def _fill_baskets(rows: dict, n_items: int, next_order: int) -> dict:
    """Drop an item repeated within an order; a staple that would make an order bigger than
    MAX_BASKET goes to an order of its own, at its own time. Slot picks win over staples."""
    # one sort by (order, item, staple last) finds repeats and positions in each order
    key = (rows["order"] * n_items + rows["item"]) * 2 + rows["is_staple"]
    by_key = np.argsort(key)
    pair = key[by_key] // 2
    by_key = by_key[np.r_[True, pair[1:] != pair[:-1]]]
    rows = {name: values[by_key] for name, values in rows.items()}
    order, staple = rows["order"], rows["is_staple"]
    new_order = np.r_[True, order[1:] != order[:-1]]
    group = np.cumsum(new_order) - 1
    slots = np.bincount(group, weights=~staple).astype(np.int64)
    staples_so_far = np.cumsum(staple)
    before_group = (staples_so_far - staple)[new_order]
    staple_rank = staples_so_far - 1 - before_group[group]
    overflow = staple & (slots[group] + staple_rank >= MAX_BASKET)
    order[overflow] = next_order + np.arange(int(overflow.sum()))
    rows["time"][overflow] = rows["own_time"][overflow]
    return rows


def _number_orders_by_time(
    order: np.ndarray, time: np.ndarray, item: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Row order (by time, order, item) and each row's order number, counted in time order as a
    till would. Rows of one order share its time."""
    order_time = np.full(order.max() + 1 if len(order) else 0, np.inf)
    order_time[order] = time
    used = np.flatnonzero(np.isfinite(order_time))
    rank = np.zeros(len(order_time), dtype=np.int64)
    rank[used[np.argsort(order_time[used], kind="stable")]] = np.arange(len(used))
    ordering = np.argsort(rank[order] * (item.max() + 1 if len(item) else 1) + item)
    return ordering, rank[order][ordering]


def _time_of_day(rng: np.random.Generator, n: int) -> np.ndarray:
    """Fractions of a day between 7:00 and 22:00, busiest in the afternoon."""
    return (7 + 15 * rng.beta(2.2, 2.0, size=n)) / 24


def _nearest_order(
    order_user: np.ndarray,
    order_time: np.ndarray,
    user: np.ndarray,
    time: np.ndarray,
    days: int,
    within: float,
) -> np.ndarray:
    """Index of each event's user's nearest order at most ``within`` days away, else -1."""
    if not len(order_user):
        return np.full(len(user), -1, dtype=np.int64)
    span = days + 2 * within + 1  # keys of different users never come within ``within``
    key = order_user * span + order_time
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    wanted = user * span + time
    right = np.clip(np.searchsorted(sorted_key, wanted), 0, len(order) - 1)
    left = np.maximum(right - 1, 0)
    gap_left, gap_right = np.abs(sorted_key[left] - wanted), np.abs(sorted_key[right] - wanted)
    best = np.where(gap_left <= gap_right, left, right)
    near = np.minimum(gap_left, gap_right) <= within
    return np.where(near, order[best], -1)


def _staples(
    rng: np.random.Generator, people: dict, catalog: dict, first_day: np.ndarray, days: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One to three items per user from their top categories, re-bought every 1-6 weeks."""
    n_users = len(people["activity"])
    per_user = rng.integers(1, 4, size=n_users)
    owner = np.repeat(np.arange(n_users), per_user)
    ranked = np.argsort(-people["taste"][owner], axis=1)
    category = np.where(rng.random(len(owner)) < 0.7, ranked[:, 0], ranked[:, 1])
    item = np.empty(len(owner), dtype=np.int64)
    for c in np.unique(category):  # per category
        pool = np.flatnonzero((catalog["category"] == c) & (catalog["created_day"] < 0))
        if not len(pool):
            pool = np.flatnonzero(catalog["category"] == c)
        if not len(pool):  # a tiny catalog (--items 10) leaves most categories empty
            pool = np.arange(len(catalog["category"]))
        chosen = category == c
        weights = catalog["appeal"][pool] / catalog["appeal"][pool].sum()
        item[chosen] = rng.choice(pool, size=int(chosen.sum()), p=weights)
    rhythm = np.sqrt(people["activity"][owner]).clip(0.5, 3)
    interval = rng.uniform(7, 45, size=len(owner)) / rhythm
    first = first_day[owner] + rng.random(len(owner)) * interval
    repeats = np.maximum(0, np.floor((days - first) / interval)).astype(np.int64) + 1
    kept = rng.random(len(owner)) < 0.8  # a fifth of habits lapse after a couple of buys
    repeats = np.where(kept, repeats, np.minimum(repeats, 2))
    staple = np.repeat(np.arange(len(owner)), repeats)
    k = np.arange(len(staple)) - np.repeat(np.cumsum(repeats) - repeats, repeats)
    time = first[staple] + k * interval[staple] + rng.normal(0, 1.5, size=len(staple))
    time = np.floor(time) + _time_of_day(rng, len(staple))
    inside = (time >= np.maximum(0, catalog["created_day"][item[staple]])) & (time < days)
    return owner[staple][inside], item[staple][inside], time[inside]


# --- dirt -------------------------------------------------------------------------------------


def _inject_dirt(
    rng: np.random.Generator,
    events: dict,
    catalog: dict,
    start: datetime,
    days: int,
    invoice_rng: np.random.Generator,
) -> tuple[dict, dict[str, int]]:
    """Dirty distinct clean rows in place, then append returns and duplicates (one kind a row),
    then the invoice-shaped dirt (``_invoice_dirt``)."""
    n = len(events["user"])
    columns = {
        "user": events["user"].astype(np.int64),  # -1 = NULL user_id
        "item_id": catalog["item_id"][events["item"]],
        "item_missing": np.zeros(n, dtype=bool),
        "time": events["time"].astype(np.float64),  # days since the period's start
        "is_return": np.zeros(n, dtype=bool),
        "quantity": events["quantity"].astype(np.int32),
        "price": events["price"].astype(np.float64),
        "order": events["order"].astype(np.int64),
        "credit_note": np.full(n, -1, dtype=np.int64),  # own credit note number, -1 = none
    }
    dirt: dict[str, int] = {}

    # returns: whole or partial, one return time per original order (a 'C' invoice)
    returned = np.flatnonzero(rng.random(n) < DIRT_RATES["return"])
    delay = rng.uniform(1.0, 20.0, size=columns["order"].max() + 1)
    return_time = columns["time"][returned] + delay[columns["order"][returned]]
    returned, return_time = returned[return_time < days], return_time[return_time < days]
    bought = columns["quantity"][returned]
    partial = (rng.random(len(returned)) < 0.2) & (bought > 1)
    returned_quantity = np.where(partial, rng.integers(1, np.maximum(bought, 2)), bought)
    dirt["return"] = len(returned)

    untouched = np.ones(n, dtype=bool)
    untouched[returned] = False  # a returned purchase stays clean, so the return can match it
    for kind in (
        "missing_user_id",
        "missing_item_id",
        "non_positive_price",
        "price_outlier",
        "unknown_item",
        "future_event_ts",
    ):
        rows = np.flatnonzero(untouched & (rng.random(n) < DIRT_RATES[kind]))
        untouched[rows] = False
        dirt[kind] = len(rows)
        flip = rng.random(len(rows)) < 0.5
        if kind == "missing_user_id":
            columns["user"][rows] = -1
        elif kind == "missing_item_id":
            columns["item_missing"][rows] = True
        elif kind == "non_positive_price":
            columns["price"][rows] = np.where(flip, 0.0, -columns["price"][rows])
        elif kind == "price_outlier":
            columns["price"][rows] = np.round(columns["price"][rows] * np.where(flip, 100, 0.01), 4)
        elif kind == "unknown_item":
            retired = ITEM_ID_BASE + len(catalog["item_id"])
            columns["item_id"][rows] = retired + rng.integers(0, max(10, n // 1000), len(rows))
        else:
            future = (datetime(2090, 1, 1) - start).days
            columns["time"][rows] = future + rng.uniform(0, 3650, size=len(rows))

    returns = {name: values[returned] for name, values in columns.items()}
    returns["time"] = return_time
    returns["is_return"][:] = True
    returns["quantity"] = -returned_quantity.astype(np.int32)
    duplicates = np.flatnonzero(untouched & (rng.random(n) < DIRT_RATES["duplicate"]))
    dirt["duplicate"] = len(duplicates)
    copies = {name: values[duplicates] for name, values in columns.items()}
    kept = untouched.copy()
    kept[returned] = True  # the purchases a return can find
    untouched[duplicates] = False  # a copied row stays whole, or its copy would not be exact
    extra = _invoice_dirt(invoice_rng, columns, returns, returned, kept, untouched, dirt)
    merged = {
        name: np.concatenate([columns[name], returns[name], copies[name], extra[name]])
        for name in columns
    }
    order = np.argsort(merged["time"], kind="stable")
    return {name: values[order] for name, values in merged.items()}, dirt


def _invoice_dirt(
    rng: np.random.Generator,
    columns: dict,
    returns: dict,
    returned: np.ndarray,
    kept: np.ndarray,
    untouched: np.ndarray,
    dirt: dict[str, int],
) -> dict:
    """Credit notes with their own numbers (set on ``returns`` in place), service lines and
    split order lines (``columns`` in place); returns the rows to append. A split line keeps its
    order's total, so after merging the clean log is the same as without this dirt."""
    # own-numbered credit notes only where the returned purchase is the user's latest of the
    # item before the return: a shop's note names no order, the latest purchase is the match
    dense = np.unique(columns["user"] * (columns["item_id"].max() + 1) + columns["item_id"],
                      return_inverse=True)[1].astype(np.int64)  # fmt: skip
    seconds = np.round(columns["time"] * 86_400).astype(np.int64)
    composite = dense * 10_000_000_000 + seconds
    kept_sorted = np.sort(composite[kept])
    after = np.searchsorted(kept_sorted, composite[returned], side="right")
    following = kept_sorted[np.minimum(after, len(kept_sorted) - 1)]
    return_seconds = np.round(returns["time"] * 86_400).astype(np.int64)
    bought_again = (after < len(kept_sorted)) & (
        following <= dense[returned] * 10_000_000_000 + return_seconds
    )
    own = ~bought_again & (rng.random(len(returned)) < CREDIT_NOTE_SHARE)
    returns["credit_note"] = np.where(own, CREDIT_NOTE_BASE + np.cumsum(own), -1)

    # service lines: one row per chosen order, at the order's time, for its user
    first_rows = np.unique(columns["order"][untouched], return_index=True)[1]
    order_rows = np.flatnonzero(untouched)[first_rows]
    chosen = order_rows[rng.random(len(order_rows)) < DIRT_RATES["non_product"]]
    is_manual = rng.random(len(chosen)) < 0.1
    service = {name: values[chosen].copy() for name, values in columns.items()}
    service["item_id"] = np.where(is_manual, MANUAL_ITEM_ID, POSTAGE_ITEM_ID)
    service["quantity"][:] = 1
    manual = np.round(rng.uniform(0.5, 30.0, size=len(chosen)), 2)
    service["price"] = np.where(is_manual, manual, POSTAGE_PRICE)
    dirt["non_product"] = len(chosen)

    # repeated lines: a clean line of quantity 3 becomes 1 + 2 on the same order
    splittable = np.flatnonzero(untouched & (columns["quantity"] == 3))
    split = splittable[rng.random(len(splittable)) < DIRT_RATES["merged_line"] / 0.075]
    second = {name: values[split].copy() for name, values in columns.items()}
    second["quantity"][:] = 2
    columns["quantity"][split] = 1
    dirt["merged_line"] = len(split)
    return {name: np.concatenate([service[name], second[name]]) for name in columns}


def _dirty_titles(rng: np.random.Generator, titles: list[str]) -> list[str]:
    """Full-width letters, odd spaces (NBSP, U+3000, doubled, at the ends) or random case."""
    out = list(titles)
    for i in np.flatnonzero(rng.random(len(titles)) < DIRT_RATES["odd_unicode_title"]):
        kind = i % 3
        if kind == 0:  # ASCII letters and digits to their full-width forms (U+FF01..)
            out[i] = "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch for ch in titles[i])
        elif kind == 1:
            out[i] = "  " + titles[i].replace(" ", "\u00a0 ", 1).replace(" ", "\u3000", 1) + " "
        else:
            flips = rng.random(len(titles[i])) < 0.5
            out[i] = "".join(
                c.upper() if f else c.lower() for c, f in zip(titles[i], flips, strict=True)
            )
    return out


# --- tables and files -------------------------------------------------------------------------


def _timestamps(days_from_start: np.ndarray, start: datetime) -> pa.Array:
    seconds = np.round(np.asarray(days_from_start, dtype=np.float64) * 86_400).astype(np.int64)
    base = np.datetime64(start, "s").astype(np.int64)
    return pa.array((base + seconds).astype("datetime64[s]")).cast(pa.timestamp("us"))


def _interactions_table(events: dict, people: dict, start: datetime) -> pa.Table:
    order_id = pc.cast(pa.array(events["order"]), pa.string())
    credit_note = pc.cast(pa.array(events["credit_note"]), pa.string())
    is_return = pa.array(events["is_return"])
    user = events["user"]
    return pa.table(
        {
            "user_id": people["user_id"].take(pa.array(np.maximum(user, 0), mask=user < 0)),
            "item_id": pa.array(events["item_id"], pa.int64(), mask=events["item_missing"]),
            "event_ts": _timestamps(events["time"], start),
            "event_type": pc.if_else(is_return, "return", "purchase"),
            "quantity": pa.array(events["quantity"], pa.int32()),
            "price": pa.array(events["price"], pa.float64()),
            "order_id": pc.if_else(
                is_return,
                pc.binary_join_element_wise(
                    "C", pc.if_else(pa.array(events["credit_note"] >= 0), credit_note, order_id), ""
                ),
                order_id,
            ),
        }
    )


def _items_table(catalog: dict, start: datetime) -> pa.Table:
    names = pa.array(catalog["category_names"])
    brands = pa.array(catalog["brand_names"])
    brand = catalog["brand"]
    return pa.table(
        {
            "item_id": pa.array(catalog["item_id"], pa.int64()),
            "title": pa.array(catalog["title"], pa.string()),
            "description": pa.array(catalog["description"], pa.string()),
            "category": names.take(pa.array(catalog["category"])),
            "brand": brands.take(pa.array(brand, mask=~catalog["has_brand"])),
            "price": pa.array(catalog["price"], pa.float64()),
            "created_at": _timestamps(catalog["created_day"], start),
        }
    )


def _users_table(people: dict, start: datetime) -> pa.Table:
    return pa.table(
        {
            "user_id": people["user_id"],
            "signup_date": _timestamps(people["signup_day"], start).cast(pa.date32()),
            "segment": pa.array(people["segment"], pa.string()),
            "age_band": pa.array(people["age_band"], pa.string()),
        }
    )


def _write(table: pa.Table, path: Path, fmt: str) -> Path:
    """Write next to the target, then rename: a reader never sees half a file."""
    partial = path.with_name(f".{path.name}.partial")
    try:
        if fmt == "parquet":
            pq.write_table(table, partial)
        else:
            pacsv.write_csv(_iso_times(table), partial)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return path


def _iso_times(table: pa.Table) -> pa.Table:
    """CSV with ISO-8601 text times ('2025-03-01T14:05:09', '2025-03-01'), as exports have them."""
    columns = []
    for column in table.columns:
        if pa.types.is_timestamp(column.type):
            column = pc.strftime(column.cast(pa.timestamp("s")), "%Y-%m-%dT%H:%M:%S")
        elif pa.types.is_date(column.type):
            column = pc.strftime(column, "%Y-%m-%d")
        columns.append(column)
    return pa.table(columns, names=table.column_names)
