"""The job's model: built and compiled for its execution plan, and copied onto one device.

Its builders import Keras when called: only the GPU worker calls them.
"""

from catdog_queue.training.devices import device_scope, has_gpu
from catdog_queue.training.execution import steps_per_epoch
from catdog_queue.training.models import compile_model, make_model, make_optimizer


def mixed_precision_in_use(options, gpu_present: bool | None = None) -> bool:
    """Asked for, and possible: float16 compute pays off on GPUs only."""
    if gpu_present is None:
        gpu_present = has_gpu()
    wanted = options.mixed_precision and options.model != "mlp"
    return bool(wanted and options.device != "cpu" and gpu_present)


def one_device_copy(trained, options, image_shape, parts, plan):
    """The trained weights in the same model built on one device, to evaluate and save.

    Keras's data-parallel models split every batch across their devices: an
    odd-sized held-out batch would fail, and on TensorFlow's mirrored strategy
    ``predict_on_batch`` returns each replica's copy of the batch. A one-device
    model evaluates any batch and loads anywhere (without the optimizer's
    state, which only the checkpoints need).
    """
    with device_scope(options.device):
        model = new_model(options, image_shape, parts, None, plan)
        model.set_weights(trained.get_weights())
    return model


def new_model(options, input_shape, parts, weights, plan):
    """The job's model, compiled for ``plan``, its schedules sized to the whole run."""
    classes = len(options.labels)
    total_steps = steps_per_epoch(len(parts["train"]), options.batch_size) * options.epochs
    model = make_model(
        options.model, input_shape, classes, mixed_precision_in_use(options), weights,
        options.fine_tune, total_steps,
    )  # fmt: skip
    optimizer = make_optimizer(
        options.optimizer, options.learning_rate, options.schedule, total_steps
    )
    compile_model(model, optimizer, classes, plan.jit_compile, plan.steps_per_execution)
    return model
