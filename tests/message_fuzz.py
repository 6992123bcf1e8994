"""Random and mutated task arguments for every task name the workers register: seeded.

Each message starts from arguments a client could send (so that mutations
reach the checks deep inside), then one to three mutations: a value
replaced by a hostile one, a field dropped or added, arguments cut or
extended, or the whole argument list replaced by random JSON.
"""

import json

HOSTILE_VALUES = [
    None, True, False, -1, 0, 2**63, -(2**63), 1e308, -1e-308, 100_000, 512, "", "x" * 5000,
    "../../etc/passwd", "/etc/passwd", "\x00", "\u202e", "catdog:shard:" + "f" * 64,
    "catdog:job:x:artifact:model.keras", [], {}, [[[[[]]]]], {"a": {"b": {"c": []}}},
    ["cat.0.jpg"] * 300, list(range(1000)),
]  # fmt: skip


def base_arguments(data_root: str, refused_root: str) -> dict:
    """``{task name: (queue, arguments)}`` that pass the checks, with cheap outcomes:
    training and prediction find no shards and re-decode from a folder no worker may
    read, so a mutation that survives the checks still ends within seconds."""
    shard = {"key": "catdog:shard:" + "e" * 64, "index": 0, "image_size": 8}
    readable = shard | {"paths": ["cat.0.jpg", "dog.0.jpg"]}
    unreadable = shard | {"paths": ["cat.0.jpg"]}
    training = {"labels": ["cat", "dog"], "epochs": 1, "batch_size": 4, "image_size": 8}
    job = "fuzz-20261203"
    return {
        "catdog.decode_shard": ("cpu", [job, data_root, readable]),
        "catdog.train": ("gpu", [job, refused_root, [unreadable], training]),
        "catdog.predict": (
            "gpu",
            [
                job,
                f"catdog:job:{job}:artifact:model.keras",
                refused_root,
                [unreadable],
                {"labels": ["cat", "dog"], "image_size": 8},
            ],
        ),
    }


def mutated(arguments: list, random) -> list:
    arguments = json.loads(json.dumps(arguments))  # a deep copy
    for _ in range(random.randint(1, 3)):
        arguments = _mutate_once(arguments, random)
    return arguments


def random_json(random, depth: int = 0):
    kind = random.randrange(6 if depth < 3 else 4)
    if kind == 0:
        return random.choice(HOSTILE_VALUES)
    if kind == 1:
        return random.randint(-(2**40), 2**40)
    if kind == 2:
        return "".join(chr(random.randint(1, 0x2FFF)) for _ in range(random.randint(0, 20)))
    if kind == 3:
        return random.random() * 10 ** random.randint(-5, 12)
    if kind == 4:
        return [random_json(random, depth + 1) for _ in range(random.randint(0, 4))]
    return {f"k{n}": random_json(random, depth + 1) for n in range(random.randint(0, 4))}


def _mutate_once(arguments, random):
    choice = random.random()
    if choice < 0.08 or not isinstance(arguments, list):
        return [random_json(random) for _ in range(random.randint(0, 6))]
    if choice < 0.16:
        return arguments[: random.randrange(len(arguments) + 1)]
    if choice < 0.22:
        return [*arguments, random_json(random)]
    containers = list(_containers(arguments))
    container = random.choice(containers)
    if isinstance(container, dict) and container and random.random() < 0.25:
        del container[random.choice(sorted(container))]
    elif isinstance(container, dict) and random.random() < 0.15:
        container[random.choice(["extra", "uploaded", "cached", "model", "weights"])] = (
            random.choice(HOSTILE_VALUES)
        )
    elif container:
        slot = random.choice(
            list(container) if isinstance(container, dict) else range(len(container))
        )
        container[slot] = (
            random.choice(HOSTILE_VALUES) if random.random() < 0.7 else random_json(random)
        )
    return arguments


def _containers(value):
    if isinstance(value, dict | list):
        yield value
        for item in value.values() if isinstance(value, dict) else value:
            yield from _containers(item)
