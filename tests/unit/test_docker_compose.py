"""docker/docker-compose.yml and the Dockerfiles agree with the code they run.

Nothing is built or started: the compose file is read as YAML, its ``${VAR}``
references are substituted as Docker Compose does, and the results are checked
against ``celeryconfig``, the Celery tasks, ``shared/settings.py`` and Flower.
"""

import ast
import importlib.util
import json
import re
import shlex
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from catdog_queue import celeryconfig
from catdog_queue.shared import redis_acl
from catdog_queue.workers import POOL_OPTIONS, worker_command
from tests.unit.test_import_boundaries import component, imported_names

REPOSITORY = Path(__file__).resolve().parents[2]
DOCKER = REPOSITORY / "docker"
COMPOSE_FILE = DOCKER / "docker-compose.yml"
GPU_COMPOSE_FILE = DOCKER / "docker-compose.gpu.yml"

WORKERS = ("cpu-worker", "gpu-worker")
CELERY_SERVICES = (*WORKERS, "flower")
# Which worker runs the tasks of each module, and the queue each worker consumes.
WORKER_OF_MODULE = {
    "catdog_queue.workers.cpu": "cpu-worker",
    "catdog_queue.workers.gpu": "gpu-worker",
}
QUEUE_OF_WORKER = {"cpu-worker": "cpu", "gpu-worker": "gpu"}
# The Redis user (shared/redis_acl.py) each service logs in as.
ROLE_OF_SERVICE = {"cpu-worker": "worker", "gpu-worker": "worker", "flower": "flower"}
ROLE_OF_SERVICE["client"] = "client"


def password_variable(role: str) -> str:
    return f"CATDOG_REDIS_{role.upper()}_PASSWORD"


# The variables a user must set, and values to substitute for them.
PASSWORDS = {role: f"{role}-s3cret-for-tests" for role in redis_acl.ROLES}
REQUIRED = {password_variable(role): password for role, password in PASSWORDS.items()}
REQUIRED |= {"DATA_DIR": "/srv/kaggle", "FLOWER_BASIC_AUTH": "admin:flower-pass"}
REDIS_CONTAINER_PORT = 6379

# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error}, ${NAME?error}
VARIABLE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


class MissingVariable(Exception):
    pass


def interpolate(text: str, environment: dict) -> str:
    """Substitute ``${...}`` the way Docker Compose does (no nesting: none is used)."""

    def substitute(match: re.Match) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        value = environment.get(name)
        if op is None:
            return value or ""
        if op == ":-":
            return value if value else arg
        if op == "-":
            return value if value is not None else arg
        if (op == ":?" and not value) or (op == "?" and value is None):
            raise MissingVariable(f"{name}: {arg}")
        return value

    return VARIABLE.sub(substitute, text)


def resolve(node, environment: dict):
    if isinstance(node, str):
        return interpolate(node, environment)
    if isinstance(node, dict):
        return {key: resolve(value, environment) for key, value in node.items()}
    if isinstance(node, list):
        return [resolve(item, environment) for item in node]
    return node


def as_argv(command) -> list[str]:
    if isinstance(command, str):
        return shlex.split(command)
    return [str(argument) for argument in command]


def option_values(argv: list[str], *names: str) -> list[str]:
    """Values of ``NAME VALUE`` and ``--NAME=VALUE`` options in ``argv``."""
    values = []
    for index, argument in enumerate(argv):
        for name in names:
            if argument == name and index + 1 < len(argv):
                values.append(argv[index + 1])
            elif name.startswith("--") and argument.startswith(name + "="):
                values.append(argument.split("=", 1)[1])
    return values


def environment_of(service: dict) -> dict:
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        return dict(item.split("=", 1) if "=" in item else (item, None) for item in environment)
    return {key: None if value is None else str(value) for key, value in environment.items()}


def dockerfile_of(service: dict) -> Path:
    build = service["build"]
    dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
    return context_of(service) / dockerfile


def context_of(service: dict) -> Path:
    build = service["build"]
    context = build if isinstance(build, str) else build.get("context", ".")
    return (COMPOSE_FILE.parent / context).resolve()


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    result, pending = [], ""
    for line in dockerfile.read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        keyword, _, arguments = (pending + stripped).partition(" ")
        result.append((keyword.upper(), arguments.strip()))
        pending = ""
    return result


def dockerfile_cmd(dockerfile: Path) -> list[str]:
    commands = [arguments for keyword, arguments in instructions(dockerfile) if keyword == "CMD"]
    assert commands, f"{dockerfile.name} has no CMD"
    last = commands[-1]
    return json.loads(last) if last.startswith("[") else shlex.split(last)


def effective_command(service: dict) -> list[str]:
    """The compose command if there is one, else the image's CMD."""
    if "command" in service:
        return as_argv(service["command"])
    return dockerfile_cmd(dockerfile_of(service))


def queues_of(argv: list[str]) -> set[str]:
    return {
        queue
        for value in option_values(argv, "-Q", "--queues")
        for queue in value.split(",")
        if queue
    }


def uses_workers_app(argv: list[str]) -> bool:
    return "catdog_queue.workers.app" in option_values(argv, "-A", "--app")


@pytest.fixture(scope="module")
def raw():
    """The compose file as YAML, ``${...}`` left as written."""
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def services(raw):
    """The services with the required variables set and the rest at their defaults."""
    return resolve(raw, REQUIRED)["services"]


@pytest.fixture(scope="module")
def built_services(services):
    return {name: service for name, service in services.items() if "build" in service}


@pytest.fixture(scope="module")
def task_modules():
    """Registered ``catdog.*`` task name -> the module that defines it."""
    import catdog_queue.workers.cpu
    import catdog_queue.workers.gpu
    from catdog_queue.workers.app import app

    assert catdog_queue.workers.cpu and catdog_queue.workers.gpu
    return {name: task.__module__ for name, task in app.tasks.items() if name.startswith("catdog.")}


# --- queues and pools --------------------------------------------------------


def test_the_expected_services_exist(services):
    assert {"redis", "flower", *WORKERS} <= set(services)


def test_each_task_is_routed_to_a_queue_its_worker_consumes(services, task_modules):
    assert {"catdog.decode_shard", "catdog.train", "catdog.predict"} <= set(task_modules)
    for task, module in task_modules.items():
        worker = WORKER_OF_MODULE[module]
        route = celeryconfig.task_routes.get(task, {"queue": celeryconfig.task_default_queue})
        consumed = queues_of(effective_command(services[worker]))
        assert route["queue"] in consumed, f"{task} goes to {route['queue']}, {worker}: {consumed}"


def test_decode_goes_to_the_cpu_worker_and_training_to_the_gpu_worker(services):
    cpu = queues_of(effective_command(services["cpu-worker"]))
    gpu = queues_of(effective_command(services["gpu-worker"]))
    assert celeryconfig.task_routes["catdog.decode_shard"]["queue"] in cpu
    for task in ("catdog.train", "catdog.predict"):
        assert celeryconfig.task_routes[task]["queue"] in gpu
        # TensorFlow is not in the cpu image: no gpu task may land on a cpu worker.
        assert celeryconfig.task_routes[task]["queue"] not in cpu


def test_every_routed_queue_has_a_consumer_and_no_worker_listens_to_a_stray_queue(services):
    routed = {route["queue"] for route in celeryconfig.task_routes.values()}
    routed.add(celeryconfig.task_default_queue)
    consumed = set()
    for worker in WORKERS:
        queues = queues_of(effective_command(services[worker]))
        assert queues, f"{worker} has no -Q: it would consume every queue"
        assert queues <= routed, f"{worker} consumes {queues - routed}, which no task uses"
        consumed |= queues
    assert routed <= consumed


@pytest.mark.parametrize("worker", WORKERS)
def test_image_cmd_consumes_the_same_queues_as_the_compose_command(services, worker):
    image_cmd = dockerfile_cmd(dockerfile_of(services[worker]))
    assert "worker" in image_cmd
    assert queues_of(image_cmd) == queues_of(effective_command(services[worker]))


@pytest.mark.parametrize("worker", WORKERS)
def test_workers_run_the_command_of_the_code_with_its_pool(services, worker):
    # workers.worker_command(QUEUE): the pool of workers.POOL_OPTIONS, as the embedded
    # cluster runs it (gpu: prefork, one child; its main process never imports TensorFlow).
    queue = QUEUE_OF_WORKER[worker]
    expected = worker_command(queue)
    for argv in (
        effective_command(services[worker]),
        dockerfile_cmd(dockerfile_of(services[worker])),
    ):
        assert argv[: len(expected)] == expected, argv
        pool = POOL_OPTIONS[queue]
        assert option_values(argv, "-P", "--pool") == option_values(pool, "-P", "--pool")
        concurrency = option_values(argv, "-c", "--concurrency")
        if option_values(pool, "-c", "--concurrency"):
            assert concurrency == option_values(pool, "-c", "--concurrency")
        for value in concurrency:
            assert value == "auto" or int(value) > 0


def test_the_gpu_worker_has_one_pool_process(services):
    argv = effective_command(services["gpu-worker"])
    assert option_values(argv, "-c", "--concurrency") == ["1"]
    assert option_values(argv, "-P", "--pool") == ["prefork"]


def test_cpu_worker_can_be_scaled(services):
    cpu_worker = services["cpu-worker"]
    # A fixed name or a published host port would clash between replicas.
    assert "container_name" not in cpu_worker
    assert "ports" not in cpu_worker
    assert "deploy" not in cpu_worker or "replicas" not in cpu_worker["deploy"]


# --- environment --------------------------------------------------------------


@pytest.mark.parametrize("service", sorted(ROLE_OF_SERVICE))
def test_celery_services_log_in_to_the_redis_service_as_their_own_user(services, service):
    url = environment_of(services[service]).get("CELERY_BROKER_URL")
    assert url, f"{service} has no CELERY_BROKER_URL"
    role = ROLE_OF_SERVICE[service]
    assert url == redis_acl.redis_url(role, PASSWORDS[role], "redis", REDIS_CONTAINER_PORT, 0)
    parts = urlsplit(url)
    assert parts.hostname in services
    assert parts.username == role != "admin"


def test_each_service_gets_only_its_own_password_and_admin_only_the_config_step(services):
    for name, service in services.items():
        shown = json.dumps(environment_of(service))
        holds = {role for role, password in PASSWORDS.items() if password in shown}
        if name == "redis-config":
            assert holds == set(redis_acl.ROLES)
        elif name == "redis":
            assert holds == {"worker"}  # its health check's redis-cli
        else:
            assert holds == ({ROLE_OF_SERVICE[name]} if name in ROLE_OF_SERVICE else set())


@pytest.mark.parametrize("service", CELERY_SERVICES)
def test_celery_services_get_no_host_side_urls(services, service):
    # URLs set for submit.py on the host (localhost:6379) would be wrong in a container.
    environment = environment_of(services[service])
    assert "CELERY_RESULT_BACKEND" not in environment
    assert "CATDOG_STORE_URL" not in environment


@pytest.mark.parametrize("variable", sorted(REQUIRED))
def test_required_variables_are_required(raw, variable):
    environment = {name: value for name, value in REQUIRED.items() if name != variable}
    with pytest.raises(MissingVariable, match=variable):
        resolve(raw, environment)
    with pytest.raises(MissingVariable, match=variable):
        resolve(raw, environment | {variable: ""})


def test_catdog_variables_are_ones_that_the_code_reads(raw):
    source = (REPOSITORY / "shared" / "settings.py").read_text()
    read_by_settings = set(re.findall(r"[\"'](CATDOG_[A-Z0-9_]+)[\"']", source))
    assert "CATDOG_SHARD_TTL_DAYS" in read_by_settings
    # python -m catdog_queue.shared.redis_acl reads the passwords under these names.
    read_by_settings |= {password_variable(role) for role in redis_acl.ROLES}
    used_in_compose = set(re.findall(r"CATDOG_[A-Z0-9_]+", COMPOSE_FILE.read_text()))
    assert used_in_compose, "the compose file passes no CATDOG_* setting"
    assert used_in_compose <= read_by_settings, used_in_compose - read_by_settings


def test_catdog_variables_pass_through_under_their_own_name(raw):
    for name in WORKERS:
        for key, value in environment_of(raw["services"][name]).items():
            if key.startswith("CATDOG_") and key != "CATDOG_DATA_ROOT":
                assert VARIABLE.fullmatch(value)["name"] == key


@pytest.mark.parametrize("worker", WORKERS)
def test_workers_may_read_the_data_they_mount(services, worker):
    # shared/data_access.require_allowed_root refuses folders outside CATDOG_DATA_ROOT.
    allowed = environment_of(services[worker]).get("CATDOG_DATA_ROOT", "").split(":")
    for mount in _data_mounts(services[worker]):
        assert mount["target"] in allowed


def test_catdog_variables_are_passed_through_or_left_empty(raw):
    unset = resolve(raw, REQUIRED)["services"]["cpu-worker"]
    overridden = resolve(raw, REQUIRED | {"CATDOG_SHARD_TTL_DAYS": "3"})["services"]
    # Empty means "the default" to shared/settings.py.
    assert environment_of(unset).get("CATDOG_SHARD_TTL_DAYS") == ""
    for worker in WORKERS:
        assert environment_of(overridden[worker])["CATDOG_SHARD_TTL_DAYS"] == "3"


def test_gpu_worker_gets_the_gpu_memory_limit(raw):
    default = resolve(raw, REQUIRED)["services"]["gpu-worker"]
    set_ = resolve(raw, REQUIRED | {"GPU_MEMORY_LIMIT_MB": "4096"})["services"]["gpu-worker"]
    assert environment_of(default)["GPU_MEMORY_LIMIT_MB"] == ""
    assert environment_of(set_)["GPU_MEMORY_LIMIT_MB"] == "4096"


def test_every_variable_is_documented_in_the_docker_readme(raw):
    readme = (DOCKER / "README.md").read_text()
    text = COMPOSE_FILE.read_text()
    # Only ${NAME...} references: the substitution in these tests understands no other.
    assert not re.search(r"\$(?!\{)", text)
    names = {match["name"] for match in VARIABLE.finditer(text)}
    assert REQUIRED.keys() <= names
    undocumented = {name for name in names if f"`{name}`" not in readme}
    assert not undocumented


# --- redis --------------------------------------------------------------------


def _redis_config_module():
    spec = importlib.util.spec_from_file_location("redis_config", DOCKER / "redis_config.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_redis_reads_its_config_file_and_no_password_is_on_its_command_line(services):
    redis = services["redis"]
    assert redis["image"].startswith("redis:7")
    argv = as_argv(redis["command"])
    assert argv[0] == "redis-server"
    assert not option_values(argv, "--requirepass")
    # The file that redis-config writes, in the volume both mount.
    config_step = services["redis-config"]
    written = as_argv(config_step["command"])[-1]
    assert argv[1:] == [written]
    for service in services.values():
        for part in ("command", "entrypoint", "healthcheck"):
            shown = json.dumps(service.get(part))
            assert not [password for password in PASSWORDS.values() if password in shown]
    config_folder = str(Path(written).parent)
    read = {str(volume).split(":")[0] for volume in redis["volumes"]
            if str(volume).split(":")[1] == config_folder}  # fmt: skip
    write = {str(volume).split(":")[0] for volume in config_step["volumes"]
             if str(volume).split(":")[1] == config_folder}  # fmt: skip
    assert read and read == write
    assert redis["depends_on"]["redis-config"]["condition"] == "service_completed_successfully"


def test_the_redis_config_has_the_acl_users_and_never_evicts(services):
    environment = environment_of(services["redis-config"])
    text = _redis_config_module().render(environment)
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    users = [line for line in lines if line.startswith("user ")]
    assert users == _redis_config_module().acl_users(PASSWORDS)
    assert users[1:] == redis_acl.acl_lines(PASSWORDS)[1:]  # the default user aside
    lines = [line.split() for line in lines]
    assert not [line for line in lines if line[0] in ("requirepass", "rename-command")]
    assert ["maxmemory-policy", "noeviction"] in lines
    assert ["port", str(REDIS_CONTAINER_PORT)] in lines
    assert ["dir", "/data"] in lines  # the redis-data volume


def test_the_redis_config_step_runs_from_the_cpu_image(services):
    step = services["redis-config"]
    assert dockerfile_of(step) == dockerfile_of(services["cpu-worker"])
    script = as_argv(step["command"])[1]
    copied = [args for keyword, args in instructions(dockerfile_of(step)) if keyword == "COPY"]
    assert f"docker/redis_config.py {script}" in copied


def test_redis_keeps_its_data_in_a_volume(raw, services):
    targets = {str(volume).split(":")[1] for volume in services["redis"]["volumes"]}
    assert "/data" in targets
    names = {str(volume).split(":")[0] for volume in services["redis"]["volumes"]}
    assert names <= set(raw.get("volumes") or {})


def test_redis_is_published_on_loopback_by_default(raw):
    for bind in ({}, {"REDIS_BIND": "0.0.0.0"}):
        ports = resolve(raw, REQUIRED | bind)["services"]["redis"]["ports"]
        host_address, host_port, container_port = str(ports[0]).split(":")
        assert host_address == bind.get("REDIS_BIND", "127.0.0.1")
        assert (host_port, container_port) == ("6379", str(REDIS_CONTAINER_PORT))


def test_redis_health_check_can_authenticate(services):
    redis = services["redis"]
    # redis-cli reads the password from REDISCLI_AUTH, the user from --user.
    assert environment_of(redis)["REDISCLI_AUTH"] == PASSWORDS["worker"]
    test = " ".join(as_argv(redis["healthcheck"]["test"]))
    assert "redis-cli --user worker ping" in test
    for name in CELERY_SERVICES:
        assert services[name]["depends_on"]["redis"]["condition"] == "service_healthy"


# --- data, GPU, Flower ---------------------------------------------------------


def _data_mounts(service: dict) -> list[dict]:
    mounts = []
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            source, target, *mode = volume.split(":")
            volume = {"source": source, "target": target, "read_only": mode == ["ro"]}
        if volume["target"] == "/data":
            mounts.append(volume)
    return mounts


def test_the_cpu_worker_mounts_the_data_read_only_at_data(services):
    mounts = _data_mounts(services["cpu-worker"])
    assert len(mounts) == 1
    assert mounts[0]["source"] == REQUIRED["DATA_DIR"]
    assert mounts[0]["read_only"] is True


def test_the_gpu_worker_mounts_nothing(services):
    # Shards come from Redis and models go back to it: no disk is shared with it.
    assert not services["gpu-worker"].get("volumes")
    assert "CATDOG_DATA_ROOT" not in environment_of(services["gpu-worker"])


@pytest.fixture(scope="module")
def gpu_override():
    return resolve(yaml.safe_load(GPU_COMPOSE_FILE.read_text()), REQUIRED)["services"]


def test_the_gpu_file_reserves_one_nvidia_gpu_for_the_gpu_worker(gpu_override):
    assert set(gpu_override) == {"gpu-worker"}
    devices = gpu_override["gpu-worker"]["deploy"]["resources"]["reservations"]["devices"]
    assert len(devices) == 1
    assert devices[0]["driver"] == "nvidia"
    assert str(devices[0]["count"]) == "1"
    assert "gpu" in devices[0]["capabilities"]


def test_the_main_file_reserves_no_gpu(services):
    # Docker refuses a container that reserves a GPU on a host without one.
    for service in services.values():
        assert "reservations" not in service.get("deploy", {}).get("resources", {})


def test_flower_runs_with_basic_auth_on_port_5555(raw, services):
    flower = services["flower"]
    argv = effective_command(flower)
    assert "flower" in argv
    assert uses_workers_app(argv)
    assert option_values(argv, "--port") == ["5555"]
    assert environment_of(flower)["FLOWER_BASIC_AUTH"] == REQUIRED["FLOWER_BASIC_AUTH"]
    published = [str(port).rsplit(":", 1)[-1] for port in flower["ports"]]
    assert "5555" in published


def test_flower_reads_the_config_file_that_closes_metrics(services):
    # workers/flowerconfig.py puts /metrics behind the password (Flower 2.2 leaves it open).
    argv = effective_command(services["flower"])
    (conf,) = option_values(argv, "--conf")
    workdir = [args for keyword, args in instructions(dockerfile_of(services["flower"]))
               if keyword == "WORKDIR"][-1]  # fmt: skip
    relative = Path(conf).relative_to(workdir)
    assert (REPOSITORY / relative).is_file()
    assert str(relative.parts[0]) in _copied_sources(dockerfile_of(services["flower"]))


def test_flower_environment_names_only_flower_options(services):
    # Flower turns every FLOWER_X variable into its option x, and fails on unknown ones.
    from flower.options import options

    known = set(options._options)
    for key in environment_of(services["flower"]):
        if key.startswith("FLOWER_"):
            option = key.removeprefix("FLOWER_").lower()
            assert option in known or option.replace("_", "-") in known, key


# --- images --------------------------------------------------------------------


def test_every_dockerfile_the_compose_file_builds_exists(built_services):
    assert set(WORKERS) <= set(built_services)
    for name, service in built_services.items():
        assert dockerfile_of(service).is_file(), f"{name}: {dockerfile_of(service)}"
        assert context_of(service) == REPOSITORY


@pytest.mark.parametrize("service", CELERY_SERVICES)
def test_commands_and_image_cmds_load_workers_app(services, service):
    assert uses_workers_app(effective_command(services[service]))
    assert uses_workers_app(dockerfile_cmd(dockerfile_of(services[service])))


def _copied_sources(dockerfile: Path) -> set[str]:
    sources = set()
    for keyword, arguments in instructions(dockerfile):
        if keyword == "COPY" and "--from" not in arguments:
            *paths, _destination = arguments.split()
            sources |= {path.rstrip("/") for path in paths if not path.startswith("--")}
    return sources


def _first_party_imports() -> set[str]:
    """Top-level first-party names imported by the code the workers load."""
    first_party = {path.stem for path in REPOSITORY.iterdir() if path.suffix in ("", ".py")}
    imported = set()
    files = [REPOSITORY / "celeryconfig.py"]
    for package in ("workers", "shared"):
        files += sorted((REPOSITORY / package).glob("*.py"))
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            # Modules named in strings: config_from_object("catdog_queue.celeryconfig").
            if path.name == "app.py" and isinstance(node, ast.Constant):
                if isinstance(node.value, str) and re.fullmatch(r"\w+(\.\w+)*", node.value):
                    imported.add(component(node.value))
        imported |= {component(name) for name in imported_names(ast.parse(path.read_text()))}
    return imported & first_party


@pytest.mark.parametrize("worker", WORKERS)
def test_images_copy_the_code_the_workers_import(services, worker):
    dockerfile = dockerfile_of(services[worker])
    copied = {Path(source).stem for source in _copied_sources(dockerfile)}
    needed = _first_party_imports()
    assert {"celeryconfig", "shared", "workers"} <= needed
    assert needed <= copied, needed - copied


@pytest.mark.parametrize("worker", WORKERS)
def test_what_images_copy_exists_and_is_not_docker_ignored(services, worker):
    dockerfile = dockerfile_of(services[worker])
    ignore = dockerfile.with_name(dockerfile.name + ".dockerignore").read_text().splitlines()
    listed = [line[1:].strip().rstrip("/") for line in ignore if line.startswith("!")]
    # build-images.sh tars each listed path: one listed twice goes in twice, as a hard
    # link to itself, which Docker's legacy builder cannot unpack.
    assert len(listed) == len(set(listed)), listed
    included = set(listed)
    assert "*" in ignore, "the ignore file should exclude everything not listed"
    for source in _copied_sources(dockerfile):
        assert (REPOSITORY / source).exists(), source
        assert source in included, f"{source} is copied but excluded from the context"


@pytest.mark.parametrize("worker", WORKERS)
def test_images_run_as_a_non_root_user(services, worker):
    steps = instructions(dockerfile_of(services[worker]))
    users = [(index, args) for index, (keyword, args) in enumerate(steps) if keyword == "USER"]
    assert users, "no USER: the worker would run as root"
    last_index, last_user = users[-1]
    assert last_user.split(":")[0] not in ("root", "0")
    cmd_index = max(index for index, (keyword, _) in enumerate(steps) if keyword == "CMD")
    assert last_index < cmd_index


@pytest.mark.parametrize("worker", WORKERS)
def test_images_are_lean(services, worker):
    text = " ".join(args for _, args in instructions(dockerfile_of(services[worker])))
    assert "PYTHONDONTWRITEBYTECODE=1" in text
    assert "PYTHONUNBUFFERED=1" in text
    assert "pip install --no-cache-dir" in text
    assert "-r /tmp/requirements" in text


def _requirement_lines() -> list[str]:
    return (REPOSITORY / "requirements.txt").read_text().splitlines()


def _cpu_requirements(dockerfile: Path) -> list[str]:
    """requirements.txt through the image's ``grep -v -E 'PATTERN' /tmp/requirements.txt``."""
    found = re.search(r"grep -v -E '([^']+)' /tmp/requirements\.txt", dockerfile.read_text())
    assert found, "the cpu image no longer filters requirements.txt as this test expects"
    return [line for line in _requirement_lines() if not re.search(found[1], line)]


def _gpu_requirements(dockerfile: Path, extras: str | None = None) -> list[str]:
    """requirements.txt through the image's ``sed -E "..."``, run by bash as the build does,
    with TENSORFLOW_EXTRAS at the Dockerfile's default unless given."""
    text = dockerfile.read_text()
    found = re.search(r'(sed -E "[^"]+") /tmp/requirements\.txt', text)
    assert found, "the gpu image no longer rewrites requirements.txt as this test expects"
    if extras is None:
        extras = re.search(r"^ARG TENSORFLOW_EXTRAS=(\S*)$", text, re.MULTILINE)[1]
    rewritten = subprocess.run(
        ["bash", "-c", f'{found[1]} "$1"', "sed", str(REPOSITORY / "requirements.txt")],
        env={"TENSORFLOW_EXTRAS": extras},
        capture_output=True,
        text=True,
        check=True,
    )
    return rewritten.stdout.splitlines()


def test_the_cpu_image_installs_everything_but_tensorflow(services):
    installed = _cpu_requirements(dockerfile_of(services["cpu-worker"]))
    assert not [line for line in installed if line.startswith("tensorflow")]
    assert "and-cuda" not in dockerfile_of(services["cpu-worker"]).read_text()
    dropped = set(_requirement_lines()) - set(installed)
    assert [line.split("==")[0] for line in dropped] == ["tensorflow"]
    for package in ("celery[redis]", "flower", "kombu", "redis", "pillow", "numpy"):
        assert any(line.startswith(package + "==") for line in installed), package


def test_the_gpu_image_installs_tensorflow_with_cuda_at_the_pinned_version(services):
    installed = _gpu_requirements(dockerfile_of(services["gpu-worker"]))
    pinned = [line for line in _requirement_lines() if line.startswith("tensorflow==")]
    assert len(pinned) == 1
    version = pinned[0].split("==")[1]
    assert f"tensorflow[and-cuda]=={version}" in installed
    assert not [line for line in installed if line.startswith("tensorflow==")]
    changed = set(installed) ^ set(_requirement_lines())
    assert changed == {pinned[0], f"tensorflow[and-cuda]=={version}"}


def test_the_gpu_image_installs_plain_tensorflow_when_asked(services):
    installed = _gpu_requirements(dockerfile_of(services["gpu-worker"]), extras="")
    assert installed == _requirement_lines()
    build_args = services["gpu-worker"]["build"]["args"]
    assert build_args["TENSORFLOW_EXTRAS"] == "and-cuda"


@pytest.mark.parametrize("service", ["cpu-worker", "gpu-worker"])
def test_images_start_from_the_base_image_build_argument(raw, service):
    dockerfile = dockerfile_of(resolve(raw, REQUIRED)["services"][service])
    steps = instructions(dockerfile)
    assert ("ARG", "BASE_IMAGE=python:3.11-slim") in steps
    assert [args for keyword, args in steps if keyword == "FROM"] == ["${BASE_IMAGE}"]
    local = resolve(raw, REQUIRED | {"BASE_IMAGE": "catdog-base/python:3.11"})["services"]
    assert local[service]["build"]["args"]["BASE_IMAGE"] == "catdog-base/python:3.11"


def test_the_redis_image_can_be_replaced(raw):
    local = resolve(raw, REQUIRED | {"REDIS_IMAGE": "catdog-base/redis:7"})["services"]
    assert local["redis"]["image"] == "catdog-base/redis:7"


def test_the_compose_file_has_no_top_level_name(raw):
    # Compose v1 rejects it; the project name comes from COMPOSE_PROJECT_NAME or -p.
    assert "name" not in raw


def test_flower_runs_from_an_image_that_installs_flower(services):
    dockerfile = dockerfile_of(services["flower"])
    assert dockerfile == dockerfile_of(services["cpu-worker"])
    assert "requirements.txt" in _copied_sources(dockerfile)
    assert any(re.fullmatch(r"flower==2\.2\.\d+", line) for line in _cpu_requirements(dockerfile))
