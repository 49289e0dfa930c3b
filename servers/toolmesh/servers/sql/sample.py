"""The embedded sample database: a small shop, generated deterministically into a SQLite file.

Customers, categories, products, orders, order lines, invoices and payments, with foreign keys and a few
thousand rows. Comments (English, with Chinese synonyms for schema linking) are written as ``--`` comments
inside
``CREATE TABLE``, where SQLite keeps them in ``sqlite_master.sql``; :mod:`toolmesh.servers.sql.sqlite` reads
them back.
The file is written to a temporary name and renamed into place, so concurrent first starts are safe.
"""

from __future__ import annotations

import contextlib
import os
import random
import sqlite3
import tempfile
from datetime import date, timedelta
from pathlib import Path

__all__ = ["SAMPLE_VERSION", "SCHEMA", "ensure_sample", "generate_sample"]

SAMPLE_VERSION = 4

SCHEMA = """
CREATE TABLE categories ( -- Product categories of the shop (商品类别, 分类)
    category_id INTEGER PRIMARY KEY, -- Category id
    name TEXT NOT NULL UNIQUE, -- Category name, e.g. Books (类别名称)
    parent_id INTEGER REFERENCES categories(category_id) -- Parent category for sub-categories (上级类别)
);
CREATE TABLE products ( -- Products the shop sells (产品, 商品, 货品)
    product_id INTEGER PRIMARY KEY, -- Product id
    sku TEXT NOT NULL UNIQUE, -- Stock keeping unit code (库存单位编号)
    name TEXT NOT NULL, -- Product name (产品名称)
    category_id INTEGER NOT NULL REFERENCES categories(category_id), -- Category of the product (类别)
    unit_price NUMERIC NOT NULL CHECK (unit_price >= 0), -- List price per unit in EUR (单价, 价格)
    stock INTEGER NOT NULL DEFAULT 0, -- Units in stock (库存数量)
    discontinued INTEGER NOT NULL DEFAULT 0 -- 1 when no longer sold (停产)
);
CREATE TABLE customers ( -- People and companies who buy from the shop (客户, 顾客, 买家)
    customer_id INTEGER PRIMARY KEY, -- Customer id
    first_name TEXT NOT NULL, -- Given name (名)
    last_name TEXT NOT NULL, -- Family name (姓)
    email TEXT NOT NULL UNIQUE, -- Contact e-mail address (电子邮件, 邮箱)
    country TEXT NOT NULL, -- Country of the billing address (国家)
    city TEXT NOT NULL, -- City of the billing address (城市)
    segment TEXT NOT NULL DEFAULT 'consumer', -- consumer, business or vip (客户类型)
    created_at TEXT NOT NULL -- Sign-up date, ISO 8601 (注册日期)
);
CREATE TABLE orders ( -- Orders placed by customers (订单)
    order_id INTEGER PRIMARY KEY, -- Order id (订单号)
    customer_id INTEGER NOT NULL REFERENCES customers(customer_id), -- Who placed the order (下单客户)
    ordered_at TEXT NOT NULL, -- Order date, ISO 8601 (下单日期, 订购时间)
    status TEXT NOT NULL, -- placed, shipped, delivered, cancelled or returned (订单状态)
    shipping_country TEXT NOT NULL -- Destination country (收货国家)
);
CREATE TABLE order_items ( -- Order lines: one product and quantity per line (订单明细, 订单行)
    order_id INTEGER NOT NULL REFERENCES orders(order_id), -- Order of this line (订单)
    line_no INTEGER NOT NULL, -- Line number within the order (行号)
    product_id INTEGER NOT NULL REFERENCES products(product_id), -- Product ordered (产品)
    quantity INTEGER NOT NULL CHECK (quantity > 0), -- Units ordered (数量)
    unit_price NUMERIC NOT NULL, -- Price per unit at order time in EUR (成交单价)
    PRIMARY KEY (order_id, line_no)
);
CREATE TABLE invoices ( -- Invoices issued for orders (发票, 账单)
    invoice_id INTEGER PRIMARY KEY, -- Invoice id (发票号)
    order_id INTEGER NOT NULL UNIQUE REFERENCES orders(order_id), -- Invoiced order (订单)
    issued_at TEXT NOT NULL, -- Issue date, ISO 8601 (开票日期)
    due_at TEXT NOT NULL, -- Payment due date (到期日)
    total_amount NUMERIC NOT NULL, -- Total including VAT in EUR (总金额, 金额)
    vat_amount NUMERIC NOT NULL -- VAT part of the total in EUR (增值税, 税额)
);
CREATE TABLE payments ( -- Payments received against invoices (付款, 支付, 收款)
    payment_id INTEGER PRIMARY KEY, -- Payment id
    invoice_id INTEGER NOT NULL REFERENCES invoices(invoice_id), -- Invoice paid (发票)
    paid_at TEXT NOT NULL, -- Payment date (付款日期)
    amount NUMERIC NOT NULL, -- Amount received in EUR (付款金额)
    method TEXT NOT NULL -- card, bank_transfer, paypal or cash (支付方式)
);
CREATE INDEX idx_products_category ON products(category_id);
CREATE INDEX idx_orders_customer ON orders(customer_id);
CREATE INDEX idx_orders_ordered_at ON orders(ordered_at);
CREATE INDEX idx_order_items_product ON order_items(product_id);
CREATE INDEX idx_payments_invoice ON payments(invoice_id);
CREATE VIEW customer_revenue AS -- Revenue per customer from invoices (客户收入)
SELECT c.customer_id, c.first_name, c.last_name, c.country, COUNT(DISTINCT o.order_id) AS orders,
       ROUND(COALESCE(SUM(i.total_amount), 0), 2) AS revenue
FROM customers c LEFT JOIN orders o ON o.customer_id = c.customer_id
LEFT JOIN invoices i ON i.order_id = o.order_id
GROUP BY c.customer_id;
"""

_CATEGORIES = [
    ("Books", None),
    ("Fiction", 1),
    ("Non-fiction", 1),
    ("Electronics", None),
    ("Phones", 4),
    ("Laptops", 4),
    ("Audio", 4),
    ("Home", None),
    ("Kitchen", 8),
    ("Garden", 8),
    ("Toys", None),
    ("Sports", None),
]
_ADJECTIVES = [
    "Classic",
    "Compact",
    "Deluxe",
    "Eco",
    "Pro",
    "Smart",
    "Travel",
    "Ultra",
    "Vintage",
    "Wireless",
]
_NOUNS = {
    "Fiction": ["Novel", "Mystery", "Saga", "Thriller"],
    "Non-fiction": ["Cookbook", "Atlas", "Biography", "Guide"],
    "Phones": ["Phone", "Phone Case", "Charger"],
    "Laptops": ["Laptop", "Laptop Stand", "Dock"],
    "Audio": ["Headphones", "Speaker", "Earbuds"],
    "Kitchen": ["Kettle", "Knife Set", "Blender", "Teapot"],
    "Garden": ["Hose", "Planter", "Shears"],
    "Toys": ["Puzzle", "Robot Kit", "Board Game"],
    "Sports": ["Yoga Mat", "Football", "Tennis Racket", "Bike Light"],
    "Books": ["Box Set"],
    "Electronics": ["Cable"],
    "Home": ["Lamp", "Rug"],
}
_FIRST = [
    "Ada",
    "Alan",
    "Grace",
    "Linus",
    "Margaret",
    "Ken",
    "Barbara",
    "Dennis",
    "Frances",
    "Edsger",
    "Hedy",
    "John",
    "Katherine",
    "Tim",
    "Radia",
    "Guido",
    "Wei",
    "Mei",
    "Hiroshi",
    "Sofia",
    "Lucas",
    "Emma",
    "Noah",
    "Olivia",
    "Mateo",
    "Chloe",
    "Lars",
    "Ingrid",
    "Pierre",
    "Amelie",
]
_LAST = [
    "Lovelace",
    "Turing",
    "Hopper",
    "Torvalds",
    "Hamilton",
    "Thompson",
    "Liskov",
    "Ritchie",
    "Allen",
    "Dijkstra",
    "Lamarr",
    "Backus",
    "Johnson",
    "Berners-Lee",
    "Perlman",
    "van Rossum",
    "Zhang",
    "Li",
    "Tanaka",
    "Rossi",
    "Silva",
    "Martin",
    "Jensen",
    "Dubois",
    "Schmidt",
    "Novak",
    "Garcia",
    "Wang",
    "Kowalski",
    "Smith",
]
_PLACES = [
    ("France", ["Paris", "Lyon", "Nantes"]),
    ("Germany", ["Berlin", "Munich", "Hamburg"]),
    ("Italy", ["Rome", "Milan"]),
    ("Spain", ["Madrid", "Barcelona"]),
    ("China", ["Beijing", "Shanghai"]),
    ("Japan", ["Tokyo", "Osaka"]),
    ("United Kingdom", ["London", "Leeds"]),
    ("Netherlands", ["Amsterdam"]),
    ("United States", ["New York", "Austin", "Seattle"]),
    ("Brazil", ["Sao Paulo"]),
]
_STATUSES = ["delivered"] * 14 + ["shipped"] * 3 + ["placed"] * 2 + ["cancelled", "returned"]
_METHODS = ["card", "card", "card", "bank_transfer", "paypal", "cash"]
_START = date(2023, 1, 1)


def _rows(rng: random.Random) -> dict[str, list[tuple[object, ...]]]:
    categories: list[tuple[object, ...]] = [
        (i, n, parent) for i, (n, parent) in enumerate(_CATEGORIES, start=1)
    ]
    products: list[tuple[object, ...]] = []
    for product_id in range(1, 121):
        cat_id, cat_name, _ = categories[(product_id * 7) % len(categories)]
        name = f"{rng.choice(_ADJECTIVES)} {rng.choice(_NOUNS[str(cat_name)])}"
        price = round(rng.uniform(3, 400) if cat_name in {"Laptops", "Phones"} else rng.uniform(3, 90), 2)
        products.append(
            (
                product_id,
                f"SKU-{product_id:05d}",
                name,
                cat_id,
                price,
                rng.randint(0, 500),
                int(rng.random() < 0.05),
            )
        )
    customers: list[tuple[object, ...]] = []
    for customer_id in range(1, 501):
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        country, cities = rng.choice(_PLACES)
        email = f"{first}.{last}.{customer_id}@example.com".lower().replace(" ", "")
        segment = rng.choices(["consumer", "business", "vip"], weights=[80, 15, 5])[0]
        created = _START + timedelta(days=rng.randint(0, 500))
        customers.append(
            (customer_id, first, last, email, country, rng.choice(cities), segment, created.isoformat())
        )
    orders: list[tuple[object, ...]] = []
    items: list[tuple[object, ...]] = []
    invoices: list[tuple[object, ...]] = []
    payments: list[tuple[object, ...]] = []
    for order_id in range(1, 2001):
        customer = customers[rng.randrange(len(customers))]
        ordered = date.fromisoformat(str(customer[7])) + timedelta(days=rng.randint(0, 400))
        status = rng.choice(_STATUSES)
        ship_country = customer[4] if rng.random() < 0.9 else rng.choice(_PLACES)[0]
        orders.append((order_id, customer[0], ordered.isoformat(), status, ship_country))
        total = 0.0
        for line_no in range(1, rng.choices([1, 2, 3, 4, 5], weights=[30, 30, 20, 12, 8])[0] + 1):
            product = products[rng.randrange(len(products))]
            quantity = rng.choices([1, 2, 3, 5, 10], weights=[60, 20, 10, 7, 3])[0]
            price = float(str(product[4]))
            items.append((order_id, line_no, product[0], quantity, price))
            total += quantity * price
        if status == "cancelled":
            continue
        gross = round(total * 1.2, 2)
        invoice_id = len(invoices) + 1
        issued = ordered + timedelta(days=rng.randint(0, 2))
        invoices.append(
            (
                invoice_id,
                order_id,
                issued.isoformat(),
                (issued + timedelta(days=30)).isoformat(),
                gross,
                round(gross - total, 2),
            )
        )
        if rng.random() < 0.93:
            method = rng.choice(_METHODS)
            paid = issued + timedelta(days=rng.randint(0, 40))
            if rng.random() < 0.1:
                half = round(gross / 2, 2)
                payments.append((len(payments) + 1, invoice_id, paid.isoformat(), half, method))
                payments.append(
                    (
                        len(payments) + 1,
                        invoice_id,
                        (paid + timedelta(days=30)).isoformat(),
                        round(gross - half, 2),
                        method,
                    )
                )
            else:
                payments.append((len(payments) + 1, invoice_id, paid.isoformat(), gross, method))
    return {
        "categories": categories,
        "products": products,
        "customers": customers,
        "orders": orders,
        "order_items": items,
        "invoices": invoices,
        "payments": payments,
    }


def generate_sample(path: Path, *, seed: int = 20240101) -> Path:
    """Write the sample shop database to ``path`` (atomically: a temporary file renamed into place)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        conn = sqlite3.connect(tmp)
        try:
            conn.executescript("PRAGMA foreign_keys = ON; PRAGMA journal_mode = DELETE;" + SCHEMA)
            for table, rows in _rows(random.Random(seed)).items():
                marks = ",".join("?" * len(rows[0]))
                conn.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)  # noqa: S608 - constant names
            conn.execute(f"PRAGMA user_version = {SAMPLE_VERSION}")
            conn.commit()
            conn.execute("ANALYZE")
            conn.commit()
        finally:
            conn.close()
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return path


def _current(path: Path) -> bool:
    try:
        conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    except sqlite3.Error:
        return False
    try:
        row = conn.execute("PRAGMA user_version").fetchone()
        return bool(row) and row[0] == SAMPLE_VERSION
    except sqlite3.Error:
        return False
    finally:
        conn.close()


def ensure_sample(path: Path) -> Path:
    """``path``, generating the sample there first when it is missing or from an older version."""
    if path.is_file() and _current(path):
        return path
    return generate_sample(path)
