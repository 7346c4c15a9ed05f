"""A seeded demo shop: a year of grocery orders with learnable structure and real-world dirt.

Structure a ranker can learn (and popularity alone cannot): users have a taste over
categories, favourite brands and a price level; activity is heavy-tailed; each user re-buys a
few staples at their own rhythm; items rise and fade, some surge, a fifth launch during the
year; titles and descriptions are built from brand, category and attributes, so text
similarity means something.

Dirt, each kind at a known rate (``DIRT_RATES``) and counted exactly in the summary: exact
duplicate rows, returns (negative quantity, order id 'C' + the original's), missing user or
item ids, zero or negative prices, x100 / /100 price typos, items missing from the catalog,
timestamps in the 2090s, and catalog titles with full-width letters, odd spaces and case.

Everything is vectorised with numpy; the same seed gives the same files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

DIRT_RATES = {
    "duplicate": 0.010,  # of interaction rows: an exact copy appended
    "return": 0.015,  # of purchases: a later return row
    "missing_user_id": 0.005,
    "missing_item_id": 0.005,
    "non_positive_price": 0.005,
    "price_outlier": 0.003,  # price x100 or /100
    "unknown_item": 0.005,  # an item id not in the catalog
    "future_event_ts": 0.002,  # a timestamp in the 2090s
    "odd_unicode_title": 0.02,  # of catalog titles
}

# category: (typical price, product nouns, attribute words)
CATEGORIES: dict[str, tuple[float, list[str], list[str]]] = {
    "Dairy": (
        2.5,
        ["Greek Yoghurt", "Whole Milk", "Butter", "Cheddar", "Skyr", "Cream Cheese"],
        ["Organic", "Low Fat", "Lactose Free", "Vanilla", "Natural"],
    ),
    "Bakery": (
        3.0,
        ["Sourdough Loaf", "Croissants", "Rye Bread", "Bagels", "Brioche"],
        ["Wholegrain", "Seeded", "Gluten Free", "Butter", "Rustic"],
    ),
    "Coffee": (
        7.0,
        ["Ground Coffee", "Coffee Beans", "Espresso Pods", "Instant Coffee"],
        ["Dark Roast", "Decaf", "Single Origin", "Fairtrade", "Mild"],
    ),
    "Tea": (
        4.0,
        ["Green Tea", "Black Tea", "Herbal Tea", "Chai"],
        ["Mint", "Earl Grey", "Chamomile", "Ginger", "Organic"],
    ),
    "Pet Food": (
        9.0,
        ["Dog Food", "Cat Food", "Dog Treats", "Cat Litter"],
        ["Chicken", "Salmon", "Grain Free", "Puppy", "Senior"],
    ),
    "Baby": (
        8.0,
        ["Nappies", "Baby Wipes", "Baby Formula", "Baby Puree"],
        ["Sensitive", "Size 3", "Organic", "Fragrance Free"],
    ),
    "Fruit": (
        2.0,
        ["Bananas", "Apples", "Blueberries", "Avocados", "Oranges"],
        ["Organic", "Ripe", "Seasonal", "Loose", "Family Pack"],
    ),
    "Vegetables": (
        1.8,
        ["Spinach", "Carrots", "Broccoli", "Tomatoes", "Peppers"],
        ["Organic", "Baby", "Cherry", "Mixed", "Fresh"],
    ),
    "Meat": (
        6.5,
        ["Chicken Breast", "Beef Mince", "Pork Sausages", "Bacon"],
        ["Free Range", "Lean", "Smoked", "Organic", "Outdoor Bred"],
    ),
    "Fish": (
        7.5,
        ["Salmon Fillets", "Cod Loins", "Prawns", "Tuna Steaks"],
        ["Wild", "Smoked", "Frozen", "MSC", "Lemon Pepper"],
    ),
    "Snacks": (
        2.2,
        ["Crisps", "Popcorn", "Pretzels", "Rice Cakes", "Nuts"],
        ["Sea Salt", "Sweet Chilli", "Salted", "Cheese", "Honey Roasted"],
    ),
    "Chocolate": (
        2.8,
        ["Milk Chocolate", "Dark Chocolate", "Chocolate Bar", "Truffles"],
        ["70% Cocoa", "Hazelnut", "Sea Salt", "Orange", "Vegan"],
    ),
    "Cereal": (
        3.5,
        ["Granola", "Porridge Oats", "Muesli", "Corn Flakes"],
        ["Honey", "Nut", "Berry", "Low Sugar", "Wholegrain"],
    ),
    "Pasta": (
        1.6,
        ["Spaghetti", "Penne", "Fusilli", "Lasagne Sheets", "Tagliatelle"],
        ["Durum Wheat", "Wholewheat", "Egg", "Gluten Free", "Bronze Cut"],
    ),
    "Sauces": (
        2.4,
        ["Pasta Sauce", "Pesto", "Ketchup", "Mayonnaise", "Curry Paste"],
        ["Basil", "Tomato", "Garlic", "Spicy", "Light"],
    ),
    "Frozen": (
        3.8,
        ["Pizza", "Ice Cream", "Frozen Peas", "Fish Fingers", "Chips"],
        ["Margherita", "Vanilla", "Garden", "Crispy", "Family Size"],
    ),
    "Drinks": (
        1.9,
        ["Orange Juice", "Sparkling Water", "Cola", "Lemonade", "Oat Drink"],
        ["No Added Sugar", "Still", "Zero", "Barista", "Cloudy"],
    ),
    "Beer & Wine": (
        8.5,
        ["Lager", "IPA", "Red Wine", "White Wine", "Cider"],
        ["Craft", "Alcohol Free", "Dry", "Session", "Vintage"],
    ),
    "Household": (
        4.5,
        ["Washing Up Liquid", "Laundry Detergent", "Kitchen Roll", "Bin Bags"],
        ["Lemon", "Eco", "Bio", "Non Bio", "Extra Strong"],
    ),
    "Personal Care": (
        4.2,
        ["Shampoo", "Toothpaste", "Shower Gel", "Deodorant", "Hand Soap"],
        ["Sensitive", "Whitening", "Coconut", "Men", "Unscented"],
    ),
    "Health": (
        6.0,
        ["Vitamin D", "Multivitamins", "Protein Powder", "Omega 3"],
        ["Vegan", "Chewable", "Chocolate", "High Strength", "Kids"],
    ),
    "Canned": (
        1.4,
        ["Chickpeas", "Chopped Tomatoes", "Baked Beans", "Sweetcorn", "Coconut Milk"],
        ["Organic", "Reduced Salt", "In Water", "Light", "Premium"],
    ),
    "Rice & Grains": (
        2.6,
        ["Basmati Rice", "Quinoa", "Couscous", "Risotto Rice"],
        ["Brown", "Wholegrain", "Microwave", "Organic", "Tri Colour"],
    ),
    "Spreads": (
        3.1,
        ["Peanut Butter", "Jam", "Honey", "Chocolate Spread"],
        ["Crunchy", "Smooth", "Strawberry", "Raw", "No Palm Oil"],
    ),
}
SIZES = ["250g", "500g", "1kg", "4 pack", "6 pack", "750ml", "1L", "2L", "100g", "12 pack"]
BRAND_PARTS = (
    ["Alpen", "Nord", "Green", "Sun", "Oak", "River", "Golden", "Silver", "Blue", "Red", "Wild",
     "Happy", "Pure", "True", "Old", "Little", "Grand", "Fresh", "Bright", "Stone"],
    ["hof", "field", "vale", "brook", "farm", "leaf", "mill", "ridge", "bay", "wood", "crest",
     "dale", "moor", "glen", "haven"],
)  # fmt: skip
DESCRIPTION_USES = ["for breakfast", "for family dinners", "for a quick lunch", "for snacking",
                    "for baking", "for every day", "for weekend treats", "for the lunchbox"]  # fmt: skip


@dataclass
class DemoDataSummary:
    """What was written: files, row counts and the exact number of each kind of dirt."""

    out_dir: Path
    files: dict[str, Path]
    rows: dict[str, int]
    dirt: dict[str, int] = field(default_factory=dict)


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
) -> DemoDataSummary:
    """Write interactions, items and users files (Parquet or CSV) for a seeded demo shop."""
    if users < 1 or items < 10 or days < 14:
        raise ValueError("need at least 1 user, 10 items and 14 days")
    if fmt not in ("parquet", "csv"):
        raise ValueError(f"format must be parquet or csv, not {fmt!r}")
    rng = np.random.default_rng(seed)
    end = datetime.combine(end_date, datetime.min.time()) + timedelta(days=1)
    start = end - timedelta(days=days)
    catalog = _make_catalog(rng, items, start, days)
    people = _make_users(rng, users, catalog, start, days)
    events = _make_purchases(rng, people, catalog, start, days, orders_per_user)
    events, dirt = _inject_dirt(rng, events, catalog, start)
    titles_dirty = _dirty_titles(rng, catalog["title"])
    dirt["odd_unicode_title"] = int(
        sum(a != b for a, b in zip(titles_dirty, catalog["title"], strict=True))
    )
    catalog["title"] = titles_dirty

    tables = {
        "interactions": _interactions_table(events, start),
        "items": _items_table(catalog, start),
        "users": _users_table(people, start),
    }
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {}
    for name, table in tables.items():
        path = out_dir / f"{name}.{'parquet' if fmt == 'parquet' else 'csv'}"
        if fmt == "parquet":
            pq.write_table(table, path)
        else:
            pacsv.write_csv(_iso_timestamps(table), path)
        files[name] = path
    return DemoDataSummary(out_dir, files, {k: t.num_rows for k, t in tables.items()}, dirt)


def _make_catalog(rng: np.random.Generator, n: int, start: datetime, days: int) -> dict:
    names = list(CATEGORIES)
    category_weight = rng.dirichlet(np.full(len(names), 3.0))
    category = rng.choice(len(names), size=n, p=category_weight)
    brand_count = max(8, n // 25)
    brand_names = np.array(
        [
            f"{BRAND_PARTS[0][i % 20]}{BRAND_PARTS[1][(i // 20) % 15]}"
            + ("" if i < 300 else f" {i // 300}")
            for i in range(brand_count)
        ]
    )
    # each brand sells in two or three categories; an item's brand comes from its category
    brand_categories = rng.integers(0, len(names), size=(brand_count, 3))
    brand = np.empty(n, dtype=np.int64)
    for c in range(len(names)):
        in_category = np.flatnonzero(category == c)
        makers = np.flatnonzero((brand_categories == c).any(axis=1))
        if not len(makers):
            makers = rng.integers(0, brand_count, size=3)
        brand[in_category] = rng.choice(makers, size=len(in_category))
    noun = np.array([rng.integers(len(CATEGORIES[names[c]][1])) for c in category])
    attribute = np.array([rng.integers(len(CATEGORIES[names[c]][2])) for c in category])
    size = rng.integers(len(SIZES), size=n)
    brand_premium = rng.lognormal(0.0, 0.25, size=brand_count)
    base_price = np.array([CATEGORIES[names[c]][0] for c in category])
    price = np.round(base_price * brand_premium[brand] * rng.lognormal(0.0, 0.3, size=n), 2)
    # lifecycle: created before the year (80 %) or during it; popularity peaks and fades
    created_day = np.where(
        rng.random(n) < 0.8, -rng.integers(30, 720, size=n), rng.integers(0, days - 7, size=n)
    )
    peak_day = np.where(
        created_day >= 0,
        created_day + rng.integers(7, 60, size=n),
        rng.integers(-120, days + 60, size=n),
    )
    width = np.where(
        rng.random(n) < 0.1, rng.uniform(10, 25, size=n), rng.uniform(60, 240, size=n)
    )  # 10 % surge
    appeal = rng.lognormal(0.0, 1.0, size=n)
    titles, descriptions = [], []
    for i in range(n):
        cat = names[category[i]]
        noun_text, attr_text = CATEGORIES[cat][1][noun[i]], CATEGORIES[cat][2][attribute[i]]
        titles.append(f"{brand_names[brand[i]]} {attr_text} {noun_text} {SIZES[size[i]]}")
        use = DESCRIPTION_USES[(i * 7 + int(category[i])) % len(DESCRIPTION_USES)]
        descriptions.append(
            f"{attr_text} {noun_text.lower()} from {brand_names[brand[i]]}, in our {cat.lower()} range. "
            f"A {SIZES[size[i]]} pack, good {use}. {attr_text} and made with care."
        )
    no_description = rng.random(n) < 0.02
    no_brand = rng.random(n) < 0.02
    return {
        "item_id": 100_000 + np.arange(n),
        "category": category,
        "category_names": names,
        "brand": brand,
        "brand_names": brand_names,
        "has_brand": ~no_brand,
        "price": price,
        "created_day": created_day,
        "peak_day": peak_day,
        "width": width,
        "appeal": appeal,
        "title": titles,
        "description": [None if no_description[i] else d for i, d in enumerate(descriptions)],
    }


def _make_users(
    rng: np.random.Generator, n: int, catalog: dict, start: datetime, days: int
) -> dict:
    categories = len(catalog["category_names"])
    taste = rng.dirichlet(np.full(categories, 0.25), size=n)
    activity = np.clip(rng.lognormal(0.0, 0.9, size=n), 0.1, 15.0)  # heavy-tailed
    price_level = rng.lognormal(0.0, 0.35, size=n)
    signup_day = np.where(
        rng.random(n) < 0.6, -rng.integers(1, 1000, size=n), rng.integers(0, days - 14, size=n)
    )
    favourite_brands = rng.integers(0, len(catalog["brand_names"]), size=(n, 4))
    segment = rng.choice(
        ["north", "south", "east", "west", "online"], size=n, p=[0.25, 0.25, 0.2, 0.2, 0.1]
    )
    age_band = rng.choice(["18-24", "25-34", "35-44", "45-54", "55+"], size=n)
    return {
        "user_id": np.array([f"u{i:06d}" for i in range(n)]),
        "taste": taste,
        "activity": activity,
        "price_level": price_level,
        "signup_day": signup_day,
        "favourite_brands": favourite_brands,
        "segment": segment,
        "age_band": age_band,
    }


def _item_sampler(rng: np.random.Generator, catalog: dict, days: int):
    """Cumulative weights per (category, week): appeal x lifecycle x launched-yet."""
    weeks = days // 7 + 1
    categories = len(catalog["category_names"])
    members = [np.flatnonzero(catalog["category"] == c) for c in range(categories)]
    tables = {}
    for c, items in enumerate(members):
        if not len(items):
            continue
        mid_day = np.arange(weeks)[:, None] * 7 + 3.5
        shape = np.exp(
            -0.5 * ((mid_day - catalog["peak_day"][items]) / catalog["width"][items]) ** 2
        )
        launched = mid_day >= catalog["created_day"][items]
        weights = (catalog["appeal"][items] * (0.15 + shape)) * launched
        tables[c] = (items, np.cumsum(weights, axis=1))
    return tables


def _make_purchases(rng, people, catalog, start, days, orders_per_user) -> dict:
    n_users = len(people["user_id"])
    first_day = np.clip(people["signup_day"], 0, days - 1)
    span = days - first_day
    orders = rng.poisson(orders_per_user * people["activity"] * span / days) + (
        rng.random(n_users) < 0.7
    )
    order_user = np.repeat(np.arange(n_users), orders)
    order_time = first_day[order_user] + rng.random(len(order_user)) * span[order_user]  # in days
    basket = 1 + rng.geometric(0.45, size=len(order_user))
    basket = np.minimum(basket, 6)
    slot_order = np.repeat(np.arange(len(order_user)), basket)
    slot_user = order_user[slot_order]
    slot_time = order_time[slot_order]
    # category from taste (inverse CDF per slot)
    cumulative = np.cumsum(people["taste"], axis=1)
    slot_category = (rng.random(len(slot_user))[:, None] > cumulative[slot_user]).sum(axis=1)
    slot_category = np.minimum(slot_category, cumulative.shape[1] - 1)
    week = (slot_time // 7).astype(np.int64)
    samplers = _item_sampler(rng, catalog, days)
    # three draws per slot from (category, week) popularity; the user picks the best fit
    draws = np.full((len(slot_user), 3), -1, dtype=np.int64)
    key = slot_category * 10_000 + week
    order = np.argsort(key, kind="stable")
    boundaries = np.flatnonzero(np.diff(key[order])) + 1
    for group in np.split(order, boundaries):
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
    brand_match = (
        catalog["brand"][draws][:, :, None] == people["favourite_brands"][slot_user][:, None, :]
    ).any(axis=2)
    typical = np.array(
        [CATEGORIES[catalog["category_names"][c]][0] for c in catalog["category"][draws[:, 0]]]
    )
    price_fit = -np.abs(
        np.log(
            catalog["price"][draws] / (typical[:, None] * people["price_level"][slot_user][:, None])
        )
    )
    score = 1.5 * brand_match + 1.2 * price_fit + rng.gumbel(size=draws.shape)
    slot_item = draws[np.arange(len(draws)), score.argmax(axis=1)]
    launched = slot_time >= catalog["created_day"][slot_item]  # the launch week's early days
    slot_item, slot_user, slot_time, slot_order = (
        slot_item[launched],
        slot_user[launched],
        slot_time[launched],
        slot_order[launched],
    )

    # staples: one to three items per user from their favourite categories, re-bought on rhythm
    staple_user, staple_item, staple_time = _staples(rng, people, catalog, first_day, days)
    staple_order = len(order_user) + np.arange(len(staple_user))
    user = np.concatenate([slot_user, staple_user])
    item = np.concatenate([slot_item, staple_item])
    time = np.concatenate([slot_time, staple_time])
    order_index = np.concatenate([slot_order, staple_order])
    quantity = np.where(rng.random(len(user)) < 0.85, 1, rng.integers(2, 4, size=len(user)))
    paid = np.round(
        catalog["price"][item] * rng.choice([1.0, 1.0, 1.0, 0.9, 0.8], size=len(user)), 2
    )
    ordering = np.lexsort((item, time))
    return {
        "user": user[ordering],
        "item_id": catalog["item_id"][item[ordering]],
        "time": time[ordering],
        "quantity": quantity[ordering],
        "price": paid[ordering],
        "order": order_index[ordering],
        "user_ids": people["user_id"],
    }


def _staples(rng, people, catalog, first_day, days):
    n_users = len(people["user_id"])
    per_user = rng.integers(1, 4, size=n_users)
    owner = np.repeat(np.arange(n_users), per_user)
    favourite = people["taste"][owner].argmax(axis=1)
    second = np.argsort(-people["taste"][owner], axis=1)[:, 1]
    category = np.where(rng.random(len(owner)) < 0.7, favourite, second)
    item = np.empty(len(owner), dtype=np.int64)
    for c in np.unique(category):
        pool = np.flatnonzero((catalog["category"] == c) & (catalog["created_day"] < 0))
        if not len(pool):
            pool = np.flatnonzero(catalog["category"] == c)
        chosen = category == c
        weights = catalog["appeal"][pool] / catalog["appeal"][pool].sum()
        item[chosen] = rng.choice(pool, size=int(chosen.sum()), p=weights)
    interval = rng.uniform(10, 45, size=len(owner)) / np.sqrt(people["activity"][owner]).clip(
        0.5, 3
    )
    first = first_day[owner] + rng.random(len(owner)) * interval
    repeats = np.maximum(0, np.floor((days - first) / interval)).astype(np.int64) + 1
    keep = rng.random(len(owner)) < 0.8  # a fifth of staples lapse: not every habit is kept
    repeats = np.where(keep, repeats, np.minimum(repeats, 2))
    staple = np.repeat(np.arange(len(owner)), repeats)
    k = np.arange(len(staple)) - np.repeat(np.cumsum(repeats) - repeats, repeats)
    time = first[staple] + k * interval[staple] + rng.normal(0, 1.5, size=len(staple))
    inside = (time >= 0) & (time < days)
    return owner[staple][inside], item[staple][inside], time[inside]


def _inject_dirt(rng, events, catalog, start) -> tuple[dict, dict[str, int]]:
    n = len(events["user"])
    columns = {
        "user_id": events["user_ids"][events["user"]].astype(object),
        "item_id": events["item_id"].astype(object),
        "time": events["time"].astype(float),
        "event_type": np.full(n, "purchase", dtype=object),
        "quantity": events["quantity"].astype(np.int64),
        "price": events["price"].astype(float),
        "order_id": np.array([f"{o:07d}" for o in events["order"]], dtype=object),
    }
    dirt: dict[str, int] = {}

    def pick(rate: float) -> np.ndarray:
        return np.flatnonzero(rng.random(n) < rate)

    returned = pick(DIRT_RATES["return"])
    return_time = columns["time"][returned] + rng.uniform(1.0, 20.0, size=len(returned))
    horizon = columns["time"].max()
    returned, return_time = returned[return_time <= horizon], return_time[return_time <= horizon]
    partial = rng.random(len(returned)) < 0.2
    return_quantity = np.where(
        partial & (columns["quantity"][returned] > 1), -1, -columns["quantity"][returned]
    )
    dirt["return"] = len(returned)

    # in-place dirt on distinct, untouched rows (a returned purchase stays clean)
    untouched = np.ones(n, dtype=bool)
    untouched[returned] = False
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
        if kind == "missing_user_id":
            columns["user_id"][rows] = None
        elif kind == "missing_item_id":
            columns["item_id"][rows] = None
        elif kind == "non_positive_price":
            columns["price"][rows] = np.where(
                rng.random(len(rows)) < 0.5, 0.0, -columns["price"][rows]
            )
        elif kind == "price_outlier":
            columns["price"][rows] = np.round(
                columns["price"][rows] * np.where(rng.random(len(rows)) < 0.5, 100, 0.01), 4
            )
        elif kind == "unknown_item":
            columns["item_id"][rows] = 900_000 + rng.integers(0, 1000, size=len(rows))
        else:  # future: somewhere in the 2090s
            future = (datetime(2090, 1, 1) - start).days
            columns["time"][rows] = future + rng.uniform(0, 3650, size=len(rows))

    returns = {
        "user_id": columns["user_id"][returned],
        "item_id": columns["item_id"][returned],
        "time": return_time,
        "event_type": np.full(len(returned), "return", dtype=object),
        "quantity": return_quantity,
        "price": columns["price"][returned],
        "order_id": np.array(["C" + o for o in columns["order_id"][returned]], dtype=object),
    }
    duplicates = np.flatnonzero(untouched & (rng.random(n) < DIRT_RATES["duplicate"]))
    dirt["duplicate"] = len(duplicates)
    copies = {name: values[duplicates] for name, values in columns.items()}
    merged = {
        name: np.concatenate([columns[name], returns[name], copies[name]]) for name in columns
    }
    order = np.argsort(merged["time"], kind="stable")
    return {name: values[order] for name, values in merged.items()}, dirt


def _dirty_titles(rng: np.random.Generator, titles: list[str]) -> list[str]:
    out = list(titles)
    for i in np.flatnonzero(rng.random(len(titles)) < DIRT_RATES["odd_unicode_title"]):
        kind = i % 3
        if kind == 0:  # full-width letters and digits
            out[i] = "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch for ch in titles[i])
        elif kind == 1:  # stray, double, non-breaking and ideographic spaces
            out[i] = "  " + titles[i].replace(" ", "\u00a0 ", 1).replace(" ", "\u3000", 1) + " "
        else:  # random case
            flips = rng.random(len(titles[i])) < 0.5
            out[i] = "".join(
                ch.upper() if f else ch.lower() for ch, f in zip(titles[i], flips, strict=True)
            )
    return out


def _timestamps(days_from_start: np.ndarray, start: datetime) -> pa.Array:
    micros = np.round(np.asarray(days_from_start, dtype=float) * 86_400) * 1_000_000
    base = np.datetime64(start, "us").astype(np.int64)
    return pa.array((base + micros.astype(np.int64)).astype("datetime64[us]"), pa.timestamp("us"))


def _interactions_table(events: dict, start: datetime) -> pa.Table:
    return pa.table(
        {
            "user_id": pa.array(events["user_id"], pa.string()),
            "item_id": pa.array(events["item_id"], pa.int64()),
            "event_ts": _timestamps(events["time"], start),
            "event_type": pa.array(events["event_type"], pa.string()),
            "quantity": pa.array(events["quantity"], pa.int32()),
            "price": pa.array(events["price"], pa.float64()),
            "order_id": pa.array(events["order_id"], pa.string()),
        }
    )


def _items_table(catalog: dict, start: datetime) -> pa.Table:
    brands = catalog["brand_names"][catalog["brand"]]
    return pa.table(
        {
            "item_id": pa.array(catalog["item_id"], pa.int64()),
            "title": pa.array(catalog["title"], pa.string()),
            "description": pa.array(catalog["description"], pa.string()),
            "category": pa.array(
                [catalog["category_names"][c] for c in catalog["category"]], pa.string()
            ),
            "brand": pa.array(
                [b if has else None for b, has in zip(brands, catalog["has_brand"], strict=True)],
                pa.string(),
            ),
            "price": pa.array(catalog["price"], pa.float64()),
            "created_at": _timestamps(catalog["created_day"].astype(float), start),
        }
    )


def _users_table(people: dict, start: datetime) -> pa.Table:
    signup = _timestamps(people["signup_day"].astype(float), start).cast(pa.date32())
    return pa.table(
        {
            "user_id": pa.array(people["user_id"], pa.string()),
            "signup_date": signup,
            "segment": pa.array(people["segment"], pa.string()),
            "age_band": pa.array(people["age_band"], pa.string()),
        }
    )


def _iso_timestamps(table: pa.Table) -> pa.Table:
    """CSV with ISO-8601 text times, as exports from other systems usually have them."""
    columns = []
    for column in table.columns:
        if pa.types.is_timestamp(column.type) or pa.types.is_date(column.type):
            column = pa.array(
                [None if v is None else v.isoformat() for v in column.to_pylist()], pa.string()
            )
        columns.append(column)
    return pa.table(columns, names=table.column_names)
